/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Policy files (latchkey-policy(5)). A policy decides who gets in, so the
 * file is treated as untrusted input all the same: bounded before it is
 * read, parsed by libxml2 from memory with no network, no DTD of any kind
 * (a DOCTYPE stops the parser where it stands: no entity is ever declared,
 * so billion laughs and XXE have nothing to work with), validated against
 * the built-in RELAX NG grammar, then walked by hand to check what a
 * grammar cannot say. The walk is strict on its own too (unknown elements
 * and attributes), so that its message, which names the bad value, can be
 * reported instead of the grammar's vaguer one.
 *
 * No libxml2 global is touched: errors go to per-context handlers, and the
 * library is initialised once (xmlInitParser and the RELAX NG type tables
 * are not safe to initialise from two threads at once).
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <libxml/parser.h>
#include <libxml/relaxng.h>
#include <libxml/tree.h>
#include <libxml/xmlerror.h>
#include <openssl/evp.h>

#include "apikey-private.h"
#include "policy-private.h"
#include "scopes-private.h"
#include "util-private.h"

#define NS_URI "urn:latchkey:policy:1"

/* Lockout thresholds when a policy has no <lockout> or leaves one out:
 * brute force is limited unless a policy says otherwise (invariant 5). */
#define DEFAULT_CREDENTIAL_FAILURES 5
#define DEFAULT_SOURCE_FAILURES     20
#define DEFAULT_LOCKOUT_WINDOW      (15 * 60)
#define DEFAULT_LOCKOUT_DURATION    (15 * 60)
#define COUNT_MAX                   999999 /* six digits, as the grammar says */
#define MAX_ATTRS                   256    /* in a document, xmlns included */

/* Bad values are echoed at most this long, printable ASCII only. */
#define SHOW_MAX 64

/*
 * No DTD loading, no entity substitution, no network; CDATA merged into
 * text; line numbers past 65535 kept. The document is read as UTF-8
 * whatever its declaration says, so no other decoder (iconv) ever sees it.
 */
#if LIBXML_VERSION >= 21300
#define PARSE_OPTIONS                                                                       \
	(XML_PARSE_NONET | XML_PARSE_NOCDATA | XML_PARSE_BIG_LINES | XML_PARSE_IGNORE_ENC | \
	 XML_PARSE_NO_XXE)
#else
#define PARSE_OPTIONS \
	(XML_PARSE_NONET | XML_PARSE_NOCDATA | XML_PARSE_BIG_LINES | XML_PARSE_IGNORE_ENC)
#endif
_Static_assert((PARSE_OPTIONS &
                (XML_PARSE_NOENT | XML_PARSE_DTDLOAD | XML_PARSE_DTDATTR | XML_PARSE_DTDVALID |
                 XML_PARSE_XINCLUDE | XML_PARSE_HUGE | XML_PARSE_RECOVER)) == 0,
               "policy parsing must never load DTDs, expand entities or lift limits");

#if LIBXML_VERSION >= 21200
typedef const xmlError *lk_xml_error_ptr;
#else
typedef xmlErrorPtr lk_xml_error_ptr;
#endif

/* The first failure found, with where it was. */
struct problem {
	int rc; /* LK_OK while nothing is wrong */
	long line;
	char msg[320];
};

static pthread_once_t xml_once = PTHREAD_ONCE_INIT;

static void xml_init(void)
{
	xmlInitParser();
	xmlRelaxNGInitTypes();
}

static void note(struct problem *p, int rc, long line, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static void note(struct problem *p, int rc, long line, const char *fmt, ...)
{
	va_list ap;

	if (p->rc != LK_OK)
		return; /* the first problem is the one worth reporting */
	p->rc = rc;
	p->line = line;
	va_start(ap, fmt);
	vsnprintf(p->msg, sizeof(p->msg), fmt, ap);
	va_end(ap);
}

/* Copies s for a message: printable ASCII only, at most SHOW_MAX bytes. */
static const char *show(const char *s, char out[SHOW_MAX + 4])
{
	size_t i;

	if (s == NULL)
		s = "";
	for (i = 0; s[i] != '\0' && i < SHOW_MAX; i++)
		out[i] = (s[i] >= 0x20 && s[i] < 0x7f) ? s[i] : '?';
	if (s[i] != '\0')
		out[i++] = '.', out[i++] = '.', out[i++] = '.';
	out[i] = '\0';
	return out;
}

/* --------------------------------------------------------- libxml2 errors */

static void note_xml_error(struct problem *p, lk_xml_error_ptr e)
{
	char text[sizeof(p->msg)];
	long line;
	size_t n;

	if (e == NULL || e->level < XML_ERR_ERROR || p->rc != LK_OK)
		return;
	line = e->node != NULL ? xmlGetLineNo((xmlNodePtr)e->node) : e->line;
	if (line <= 0)
		line = e->line;
	/* First line only ("Bytes: 0x.." follows some), printable ASCII. */
	snprintf(text, sizeof(text), "%s", e->message != NULL ? e->message : "XML error");
	n = strcspn(text, "\r\n");
	text[n] = '\0';
	for (size_t i = 0; i < n; i++) {
		if ((unsigned char)text[i] < 0x20 || (unsigned char)text[i] >= 0x7f)
			text[i] = '?';
	}
	note(p, e->code == XML_ERR_NO_MEMORY ? LK_ENOMEM : LK_EINVAL, line, "%s", text);
}

/* Parser errors arrive with the parser context (its userData), whose
 * _private is ours. */
static void on_parse_error(void *data, lk_xml_error_ptr e)
{
	xmlParserCtxtPtr ctxt = data;

	note_xml_error(ctxt->_private, e);
}

static void on_schema_error(void *data, lk_xml_error_ptr e)
{
	note_xml_error(data, e);
}

/* SAX hooks that make any DOCTYPE, internal or external, fatal where it
 * stands: nothing after "<!DOCTYPE name" is ever parsed, so no entity is
 * declared and no external subset is fetched. */
static void refuse_dtd(void *data, const xmlChar *name, const xmlChar *external_id,
                       const xmlChar *system_id)
{
	xmlParserCtxtPtr ctxt = data;

	note(ctxt->_private, LK_EINVAL, ctxt->input != NULL ? ctxt->input->line : 0,
	     "DOCTYPE declarations are not allowed in a policy (no DTDs, no entities)");
	xmlStopParser(ctxt);
}

static void refuse_entity(void *data, const xmlChar *name, int type, const xmlChar *public_id,
                          const xmlChar *system_id, xmlChar *content)
{
	xmlParserCtxtPtr ctxt = data;

	note(ctxt->_private, LK_EINVAL, ctxt->input != NULL ? ctxt->input->line : 0,
	     "entity declarations are not allowed in a policy");
	xmlStopParser(ctxt);
}

/* --------------------------------------------------------- pre-scan */

/*
 * libxml2 before 2.12 checks each attribute of a start tag against all the
 * earlier ones, and looks prefixes up through every namespace declared
 * above: a megabyte of either costs it seconds to minutes. A policy has
 * fewer than 60 attributes, so count them first. This only counts;
 * well-formedness is libxml2's to judge, and for a well-formed document
 * the count is exact (every attribute and namespace declaration has one
 * "=" outside quotes in a start tag; a DOCTYPE is counted like a tag, which
 * can only make a refused document more refused). Returns the line where
 * the count passes MAX_ATTRS, 0 if it never does.
 */
static long too_many_attrs(const char *buf, size_t len)
{
	static const struct {
		const char *start, *end;
	} skips[] = { { "<!--", "-->" }, { "<![CDATA[", "]]>" }, { "<?", "?>" } };
	long line = 1;
	int attrs = 0;
	bool in_tag = false;

	for (size_t i = 0; i < len; i++) {
		const char *stop;
		size_t to = i; /* the last byte this round consumes */
		char c = buf[i];

		if (in_tag && (c == '"' || c == '\'')) {
			stop = memchr(buf + i + 1, c, len - i - 1);
			to = stop != NULL ? (size_t)(stop - buf) : len - 1;
		} else if (in_tag) {
			if (c == '=' && ++attrs > MAX_ATTRS)
				return line;
			in_tag = c != '>';
		} else if (c == '<') {
			in_tag = true;
			for (size_t k = 0; k < sizeof(skips) / sizeof(skips[0]); k++) {
				size_t n = strlen(skips[k].start), m = strlen(skips[k].end);
				if (len - i < n || memcmp(buf + i, skips[k].start, n) != 0)
					continue;
				stop = memmem(buf + i + n, len - i - n, skips[k].end, m);
				to = stop != NULL ? (size_t)(stop - buf) + m - 1 : len - 1;
				in_tag = false;
				break;
			}
		}
		for (size_t k = i; k <= to; k++)
			line += buf[k] == '\n';
		i = to;
	}
	return 0;
}

/* --------------------------------------------------------- tree walking */

static bool in_ns(const xmlNode *n)
{
	return n->ns != NULL && n->ns->href != NULL &&
	       strcmp((const char *)n->ns->href, NS_URI) == 0;
}

static bool is_named(const xmlNode *n, const char *name)
{
	return strcmp((const char *)n->name, name) == 0;
}

static long line_of(const xmlNode *n)
{
	return xmlGetLineNo((xmlNodePtr)n);
}

static bool blank(const xmlChar *s)
{
	for (; s != NULL && *s != '\0'; s++) {
		if (*s != ' ' && *s != '\t' && *s != '\n' && *s != '\r')
			return false;
	}
	return true;
}

/*
 * The next child element of parent after *cur (from the first if *cur is
 * NULL), skipping comments, processing instructions and whitespace.
 * Anything else (text, an element in another namespace) is a problem.
 * Returns false at the end or on a problem.
 */
static bool next_element(const xmlNode *parent, xmlNode **cur, struct problem *p)
{
	xmlNode *n = *cur == NULL ? parent->children : (*cur)->next;
	char a[SHOW_MAX + 4];

	for (; n != NULL; n = n->next) {
		if (n->type == XML_ELEMENT_NODE) {
			if (!in_ns(n)) {
				note(p, LK_EINVAL, line_of(n),
				     "element <%s> is not in namespace " NS_URI,
				     show((const char *)n->name, a));
				return false;
			}
			*cur = n;
			return true;
		}
		if ((n->type == XML_TEXT_NODE || n->type == XML_CDATA_SECTION_NODE) &&
		    !blank(n->content)) {
			note(p, LK_EINVAL, line_of(n), "unexpected text in <%s>",
			     (const char *)parent->name);
			return false;
		}
		if (n->type != XML_TEXT_NODE && n->type != XML_CDATA_SECTION_NODE &&
		    n->type != XML_COMMENT_NODE && n->type != XML_PI_NODE) {
			note(p, LK_EINVAL, line_of(n), "unexpected node in <%s>",
			     (const char *)parent->name);
			return false;
		}
	}
	return false;
}

/* Fails on any attribute of n not in the NULL-terminated allowed list
 * (and any namespaced one: this format has none). */
static int check_attrs(const xmlNode *n, const char *const *allowed, struct problem *p)
{
	char a[SHOW_MAX + 4], b[SHOW_MAX + 4];

	for (const xmlAttr *at = n->properties; at != NULL; at = at->next) {
		bool known = false;
		bool prefixed = at->ns != NULL && at->ns->prefix != NULL;
		for (size_t i = 0; at->ns == NULL && allowed[i] != NULL && !known; i++)
			known = strcmp((const char *)at->name, allowed[i]) == 0;
		if (!known) {
			note(p, LK_EINVAL, line_of(n), "unknown attribute %s%s%s on <%s>",
			     prefixed ? show((const char *)at->ns->prefix, b) : "",
			     prefixed ? ":" : "", show((const char *)at->name, a),
			     (const char *)n->name);
			return LK_EINVAL;
		}
	}
	return LK_OK;
}

/* The attribute's value (caller xmlFree()s), or NULL if absent. A missing
 * required one is a problem; ENOMEM is one too. */
static char *get_attr(const xmlNode *n, const char *name, bool required, struct problem *p)
{
	char *v;

	if (xmlHasNsProp((xmlNodePtr)n, (const xmlChar *)name, NULL) == NULL) {
		if (required)
			note(p, LK_EINVAL, line_of(n), "missing attribute %s on <%s>", name,
			     (const char *)n->name);
		return NULL;
	}
	v = (char *)xmlGetNoNsProp((xmlNodePtr)n, (const xmlChar *)name);
	if (v == NULL)
		note(p, LK_ENOMEM, line_of(n), "out of memory");
	return v;
}

/* The text content of a leaf element (one with no element children). */
static char *leaf_text(const xmlNode *n, struct problem *p)
{
	char *v;
	char a[SHOW_MAX + 4];

	for (const xmlNode *c = n->children; c != NULL; c = c->next) {
		if (c->type == XML_ELEMENT_NODE) {
			note(p, LK_EINVAL, line_of(c), "unexpected element <%s> in <%s>",
			     show((const char *)c->name, a), (const char *)n->name);
			return NULL;
		}
	}
	v = (char *)xmlNodeGetContent((xmlNodePtr)n);
	if (v == NULL)
		v = (char *)xmlStrdup((const xmlChar *)"");
	if (v == NULL)
		note(p, LK_ENOMEM, line_of(n), "out of memory");
	return v;
}

/* --------------------------------------------------------- value checks */

static bool plugin_name_valid(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n > LK_PLUGIN_NAME_MAX)
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];
		if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-'))
			return false;
	}
	return true;
}

static int parse_duration(const xmlNode *n, const char *attr, const char *v, int64_t *ret,
                          struct problem *p)
{
	char a[SHOW_MAX + 4];

	if (lk_duration_parse(v, ret) < 0) {
		note(p, LK_EINVAL, line_of(n),
		     "bad %s \"%s\" on <%s>: expected digits and one unit of s, m, h, d, w "
		     "(\"15m\"), not zero, at most 100 years",
		     attr, show(v, a), (const char *)n->name);
		return LK_EINVAL;
	}
	return LK_OK;
}

static int parse_count(const xmlNode *n, const char *attr, const char *v, unsigned *ret,
                       struct problem *p)
{
	char a[SHOW_MAX + 4];
	unsigned x = 0;
	size_t i;

	for (i = 0; v[i] >= '0' && v[i] <= '9' && i < 6; i++)
		x = x * 10 + (unsigned)(v[i] - '0');
	if (i == 0 || v[i] != '\0') {
		note(p, LK_EINVAL, line_of(n),
		     "bad %s \"%s\" on <%s>: expected a whole number from 0 to %d", attr,
		     show(v, a), (const char *)n->name, COUNT_MAX);
		return LK_EINVAL;
	}
	*ret = x;
	return LK_OK;
}

/* A list of scopes: each valid, none repeated, at most LK_SCOPES_MAX. */
static int parse_scope(const xmlNode *n, char ***scopes, size_t *n_scopes, struct problem *p)
{
	char a[SHOW_MAX + 4];
	char *v, *copy, **grown;
	int r = LK_EINVAL;

	if (!is_named(n, "scope")) {
		note(p, LK_EINVAL, line_of(n), "unknown element <%s> in <%s>",
		     show((const char *)n->name, a), (const char *)n->parent->name);
		return LK_EINVAL;
	}
	if (check_attrs(n, (const char *const[]){ NULL }, p) < 0)
		return LK_EINVAL;
	if ((v = leaf_text(n, p)) == NULL)
		return p->rc;
	if (!lk_scope_valid(v)) {
		note(p, LK_EINVAL, line_of(n),
		     "bad scope \"%s\": expected a letter or digit, then letters, digits or :._/-, "
		     "at most %d characters",
		     show(v, a), LK_SCOPE_LEN_MAX);
		goto out;
	}
	for (size_t i = 0; i < *n_scopes; i++) {
		if (strcmp((*scopes)[i], v) == 0) {
			note(p, LK_EINVAL, line_of(n), "duplicate scope \"%s\" in <%s>", show(v, a),
			     (const char *)n->parent->name);
			goto out;
		}
	}
	if (*n_scopes >= LK_SCOPES_MAX) {
		note(p, LK_EINVAL, line_of(n), "more than %d scopes in <%s>", LK_SCOPES_MAX,
		     (const char *)n->parent->name);
		goto out;
	}
	grown = realloc(*scopes, (*n_scopes + 1) * sizeof(**scopes));
	copy = strdup(v);
	if (grown != NULL)
		*scopes = grown;
	if (grown == NULL || copy == NULL) {
		free(copy);
		note(p, LK_ENOMEM, line_of(n), "out of memory");
		r = LK_ENOMEM;
		goto out;
	}
	(*scopes)[(*n_scopes)++] = copy;
	r = LK_OK;
out:
	xmlFree(v);
	return r;
}

/* --------------------------------------------------------- elements */

/* A calendar date "YYYY-MM-DD" from 2000 on, "2027-02-30" refused. */
static bool date_valid(const char *s)
{
	static const int mdays[] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
	int y, m, d;

	if (strlen(s) != 10 || s[4] != '-' || s[7] != '-')
		return false;
	for (int i = 0; i < 10; i++)
		if (i != 4 && i != 7 && (s[i] < '0' || s[i] > '9'))
			return false;
	y = atoi(s);
	m = atoi(s + 5);
	d = atoi(s + 8);
	if (y < 2000 || m < 1 || m > 12 || d < 1)
		return false;
	return d <= mdays[m - 1] + (m == 2 && y % 4 == 0 && (y % 100 != 0 || y % 400 == 0));
}

/* The arguments of the plugins shipped with Latchkey are checked here too,
 * so "latchkey policy check" finds a typo before the plugin refuses it at
 * the first login (and so denies everyone). */
static int check_totp_arg(const xmlNode *n, const char *v, struct problem *p)
{
	char a[SHOW_MAX + 4];

	if (strncmp(v, "skew=", 5) == 0) {
		const char *x = v + 5;
		if ((x[0] >= '0' && x[0] <= '9' && x[1] == '\0') || strcmp(x, "10") == 0)
			return LK_OK;
		note(p, LK_EINVAL, line_of(n), "bad totp argument \"%s\": skew is 0 to 10 steps",
		     show(v, a));
		return LK_EINVAL;
	}
	if (strncmp(v, "rollout=", 8) == 0) {
		if (date_valid(v + 8))
			return LK_OK;
		note(p, LK_EINVAL, line_of(n),
		     "bad totp argument \"%s\": rollout is a date, YYYY-MM-DD", show(v, a));
		return LK_EINVAL;
	}
	note(p, LK_EINVAL, line_of(n),
	     "unknown totp argument \"%s\": expected skew=N or rollout=YYYY-MM-DD", show(v, a));
	return LK_EINVAL;
}

/* The mtls plugin's arguments, by name (plugins/mtls/args.c checks the
 * values in full when the step starts): a misspelt name, a relative trust
 * file or an unknown map= source is caught by "latchkey policy check". */
static int check_mtls_arg(const xmlNode *n, const char *v, struct problem *p)
{
	static const char *const flags[] = { "crl-soft-fail", "prompt", NULL };
	static const char *const valued[] = {
		"crl-check=",   "crl-max-age=", "skew=",      "min-rsa-bits=",
		"min-ec-bits=", "sig-algs=",    "max-depth=", "pin=",
		"eku=",         "prompt=",      NULL
	};
	static const char *const files[] = { "ca=", "ca-dir=", "crl=", NULL };
	static const char *const sources[] = { "san-uri:", "san-dns:", "san-email:", "cn:", NULL };
	char a[SHOW_MAX + 4];

	for (size_t i = 0; flags[i] != NULL; i++)
		if (strcmp(v, flags[i]) == 0)
			return LK_OK;
	for (size_t i = 0; valued[i] != NULL; i++)
		if (strncmp(v, valued[i], strlen(valued[i])) == 0 && v[strlen(valued[i])] != '\0')
			return LK_OK;
	for (size_t i = 0; files[i] != NULL; i++) {
		if (strncmp(v, files[i], strlen(files[i])) != 0)
			continue;
		if (v[strlen(files[i])] == '/')
			return LK_OK;
		note(p, LK_EINVAL, line_of(n),
		     "bad mtls argument \"%s\": the file must be an absolute path", show(v, a));
		return LK_EINVAL;
	}
	if (strncmp(v, "map=", 4) == 0) {
		if (strcmp(v + 4, "cn") == 0)
			return LK_OK;
		for (size_t i = 0; sources[i] != NULL; i++)
			if (strncmp(v + 4, sources[i], strlen(sources[i])) == 0)
				return LK_OK;
		note(p, LK_EINVAL, line_of(n),
		     "bad mtls argument \"%s\": map= takes san-uri:, san-dns:, san-email: or cn:",
		     show(v, a));
		return LK_EINVAL;
	}
	note(p, LK_EINVAL, line_of(n),
	     "unknown mtls argument \"%s\" (see latchkey-policy(5), THE MTLS PLUGIN)", show(v, a));
	return LK_EINVAL;
}

/* One <arg> of a step or step-up for plugin, appended to args (sized for
 * LK_POLICY_MAX_ARGS by the caller). */
static int parse_arg(const xmlNode *n, const char *plugin, char **args, size_t *n_args,
                     struct problem *p)
{
	char a[SHOW_MAX + 4];
	char *v, *copy;
	int r = LK_EINVAL;

	if (check_attrs(n, (const char *const[]){ NULL }, p) < 0)
		return LK_EINVAL;
	if ((v = leaf_text(n, p)) == NULL)
		return p->rc;
	if (*n_args >= LK_POLICY_MAX_ARGS) {
		note(p, LK_EINVAL, line_of(n), "more than %d arguments for plugin %s",
		     LK_POLICY_MAX_ARGS, plugin);
		goto out;
	}
	if (v[0] == '\0') {
		note(p, LK_EINVAL, line_of(n), "empty <arg> for plugin %s", plugin);
		goto out;
	}
	if (strlen(v) > LK_POLICY_ARG_MAX) {
		note(p, LK_EINVAL, line_of(n), "<arg> \"%s\" is longer than %d bytes", show(v, a),
		     LK_POLICY_ARG_MAX);
		goto out;
	}
	if (!lk_text_valid(v, LK_POLICY_ARG_MAX)) {
		note(p, LK_EINVAL, line_of(n),
		     "<arg> \"%s\" has control, bidirectional or invalid UTF-8 characters",
		     show(v, a));
		goto out;
	}
	/* Policies are world-readable and their arguments reach logs. */
	if (lk_text_looks_like_key(v)) {
		note(p, LK_EINVAL, line_of(n),
		     "<arg> for plugin %s looks like an API key; keys never go in a policy",
		     plugin);
		goto out;
	}
	if (strcmp(plugin, "totp") == 0 && check_totp_arg(n, v, p) < 0)
		goto out;
	if (strcmp(plugin, "mtls") == 0 && check_mtls_arg(n, v, p) < 0)
		goto out;
	if ((copy = strdup(v)) == NULL) {
		note(p, LK_ENOMEM, line_of(n), "out of memory");
		r = LK_ENOMEM;
		goto out;
	}
	args[(*n_args)++] = copy;
	r = LK_OK;
out:
	xmlFree(v);
	return r;
}

static int parse_step(const xmlNode *n, struct lk_policy_step *step, struct problem *p)
{
	char a[SHOW_MAX + 4];
	char *plugin = NULL, *control = NULL;
	xmlNode *c = NULL;
	int r = LK_EINVAL;

	step->line = (int)line_of(n);
	if (check_attrs(n, (const char *const[]){ "plugin", "control", NULL }, p) < 0)
		goto out;
	if ((plugin = get_attr(n, "plugin", true, p)) == NULL ||
	    (control = get_attr(n, "control", true, p)) == NULL)
		goto out;
	if (!plugin_name_valid(plugin)) {
		note(p, LK_EINVAL, line_of(n),
		     "bad plugin name \"%s\": expected 1 to %d of a-z, 0-9, _ and -",
		     show(plugin, a), LK_PLUGIN_NAME_MAX);
		goto out;
	}
	snprintf(step->plugin, sizeof(step->plugin), "%s", plugin);
	if (lk_control_parse(control) < 0) {
		note(p, LK_EINVAL, line_of(n),
		     "unknown control \"%s\" for plugin %s: expected required, requisite, "
		     "sufficient or optional",
		     show(control, a), step->plugin);
		goto out;
	}
	step->control = (enum lk_control)lk_control_parse(control);
	if ((step->args = calloc(LK_POLICY_MAX_ARGS, sizeof(*step->args))) == NULL) {
		note(p, LK_ENOMEM, line_of(n), "out of memory");
		goto out;
	}
	while (next_element(n, &c, p)) {
		if (!is_named(c, "arg")) {
			note(p, LK_EINVAL, line_of(c), "unknown element <%s> in <step>",
			     show((const char *)c->name, a));
			goto out;
		}
		if (parse_arg(c, step->plugin, step->args, &step->n_args, p) < 0)
			goto out;
	}
	if (p->rc == LK_OK)
		r = LK_OK;
out:
	xmlFree(plugin);
	xmlFree(control);
	return r;
}

static int parse_stack(const xmlNode *n, struct lk_policy *pol, struct problem *p)
{
	char a[SHOW_MAX + 4];
	xmlNode *c = NULL;

	if (check_attrs(n, (const char *const[]){ NULL }, p) < 0)
		return LK_EINVAL;
	if ((pol->steps = calloc(LK_POLICY_MAX_STEPS, sizeof(*pol->steps))) == NULL) {
		note(p, LK_ENOMEM, line_of(n), "out of memory");
		return LK_ENOMEM;
	}
	while (next_element(n, &c, p)) {
		if (!is_named(c, "step")) {
			note(p, LK_EINVAL, line_of(c), "unknown element <%s> in <stack>",
			     show((const char *)c->name, a));
			return LK_EINVAL;
		}
		if (pol->n_steps >= LK_POLICY_MAX_STEPS) {
			note(p, LK_EINVAL, line_of(c), "more than %d steps in <stack>",
			     LK_POLICY_MAX_STEPS);
			return LK_EINVAL;
		}
		/* Counted before parsing so a half-parsed step is freed too. */
		if (parse_step(c, &pol->steps[pol->n_steps++], p) < 0)
			return p->rc;
	}
	if (p->rc != LK_OK)
		return p->rc;
	if (pol->n_steps == 0) {
		note(p, LK_EINVAL, line_of(n), "empty <stack>: a policy needs at least one step");
		return LK_EINVAL;
	}
	return LK_OK;
}

static int parse_scopes(const xmlNode *n, struct lk_policy *pol, struct problem *p)
{
	xmlNode *c = NULL;

	if (check_attrs(n, (const char *const[]){ NULL }, p) < 0)
		return LK_EINVAL;
	while (next_element(n, &c, p)) {
		if (parse_scope(c, &pol->scopes, &pol->n_scopes, p) < 0)
			return p->rc;
	}
	if (p->rc != LK_OK)
		return p->rc;
	if (pol->n_scopes == 0) {
		note(p, LK_EINVAL, line_of(n), "empty <scopes>: leave it out instead");
		return LK_EINVAL;
	}
	return LK_OK;
}

static int parse_stepup(const xmlNode *n, struct lk_policy *pol, struct problem *p)
{
	char a[SHOW_MAX + 4];
	struct lk_policy_stepup *su;
	char *plugin = NULL;
	xmlNode *c = NULL;
	int r = LK_EINVAL;

	if (pol->stepups == NULL &&
	    (pol->stepups = calloc(LK_POLICY_MAX_STEPS, sizeof(*pol->stepups))) == NULL) {
		note(p, LK_ENOMEM, line_of(n), "out of memory");
		return LK_ENOMEM;
	}
	if (pol->n_stepups >= LK_POLICY_MAX_STEPS) {
		note(p, LK_EINVAL, line_of(n), "more than %d <step-up> elements",
		     LK_POLICY_MAX_STEPS);
		return LK_EINVAL;
	}
	if (check_attrs(n, (const char *const[]){ "plugin", NULL }, p) < 0)
		goto out;
	if ((plugin = get_attr(n, "plugin", true, p)) == NULL)
		goto out;
	if (!plugin_name_valid(plugin)) {
		note(p, LK_EINVAL, line_of(n),
		     "bad plugin name \"%s\": expected 1 to %d of a-z, 0-9, _ and -",
		     show(plugin, a), LK_PLUGIN_NAME_MAX);
		goto out;
	}
	for (size_t i = 0; i < pol->n_stepups; i++) {
		if (strcmp(pol->stepups[i].plugin, plugin) == 0) {
			note(p, LK_EINVAL, line_of(n),
			     "duplicate <step-up> for plugin %s: list all its scopes in one",
			     plugin);
			goto out;
		}
	}
	su = &pol->stepups[pol->n_stepups++];
	snprintf(su->plugin, sizeof(su->plugin), "%s", plugin);
	while (next_element(n, &c, p)) {
		/* Arguments first, then scopes (the grammar's order). */
		if (is_named(c, "arg") && su->n_scopes == 0) {
			if (su->args == NULL &&
			    (su->args = calloc(LK_POLICY_MAX_ARGS, sizeof(*su->args))) == NULL) {
				note(p, LK_ENOMEM, line_of(c), "out of memory");
				goto out;
			}
			if (parse_arg(c, su->plugin, su->args, &su->n_args, p) < 0)
				goto out;
		} else if (is_named(c, "arg")) {
			note(p, LK_EINVAL, line_of(c),
			     "<arg> after <scope> in <step-up>: arguments come first");
			goto out;
		} else if (parse_scope(c, &su->scopes, &su->n_scopes, p) < 0) {
			goto out;
		}
	}
	if (p->rc == LK_OK)
		r = LK_OK;
out:
	xmlFree(plugin);
	return r;
}

static int parse_key_rules(const xmlNode *n, struct lk_policy *pol, struct problem *p)
{
	char a[SHOW_MAX + 4];
	char *life = NULL, *grace = NULL, *never = NULL;
	xmlNode *c = NULL;
	int r = LK_EINVAL;

	if (check_attrs(n,
	                (const char *const[]){ "max-lifetime", "rotation-grace",
	                                       "allow-never-expiring", NULL },
	                p) < 0)
		goto out;
	if (next_element(n, &c, p)) {
		note(p, LK_EINVAL, line_of(c), "unknown element <%s> in <key-rules>",
		     show((const char *)c->name, a));
		goto out;
	}
	if (p->rc != LK_OK)
		goto out;
	if ((life = get_attr(n, "max-lifetime", true, p)) == NULL ||
	    parse_duration(n, "max-lifetime", life, &pol->key_max_lifetime, p) < 0)
		goto out;
	if ((grace = get_attr(n, "rotation-grace", true, p)) == NULL ||
	    parse_duration(n, "rotation-grace", grace, &pol->rotation_grace, p) < 0)
		goto out;
	never = get_attr(n, "allow-never-expiring", false, p);
	if (p->rc != LK_OK)
		goto out;
	if (never != NULL && strcmp(never, "true") != 0 && strcmp(never, "false") != 0) {
		note(p, LK_EINVAL, line_of(n),
		     "bad allow-never-expiring \"%s\" on <key-rules>: expected true or false",
		     show(never, a));
		goto out;
	}
	pol->allow_never_expiring = never != NULL && strcmp(never, "true") == 0;
	pol->has_key_rules = true;
	r = LK_OK;
out:
	xmlFree(life);
	xmlFree(grace);
	xmlFree(never);
	return r;
}

static int parse_lockout(const xmlNode *n, struct lk_policy *pol, struct problem *p)
{
	static const char *const names[] = {
		"credential-failures", "source-failures", "window", "duration", "include-root", NULL
	};
	char a[SHOW_MAX + 4];
	char *v[5] = { NULL };
	xmlNode *c = NULL;
	int r = LK_EINVAL;

	if (check_attrs(n, names, p) < 0)
		goto out;
	if (next_element(n, &c, p)) {
		note(p, LK_EINVAL, line_of(c), "unknown element <%s> in <lockout>",
		     show((const char *)c->name, a));
		goto out;
	}
	for (int i = 0; i < 5 && p->rc == LK_OK; i++)
		v[i] = get_attr(n, names[i], false, p);
	if (p->rc != LK_OK)
		goto out;
	if ((v[0] != NULL &&
	     parse_count(n, names[0], v[0], &pol->lockout_credential_failures, p) < 0) ||
	    (v[1] != NULL &&
	     parse_count(n, names[1], v[1], &pol->lockout_source_failures, p) < 0) ||
	    (v[2] != NULL && parse_duration(n, names[2], v[2], &pol->lockout_window, p) < 0) ||
	    (v[3] != NULL && parse_duration(n, names[3], v[3], &pol->lockout_duration, p) < 0))
		goto out;
	if (v[4] != NULL && strcmp(v[4], "true") != 0 && strcmp(v[4], "false") != 0) {
		note(p, LK_EINVAL, line_of(n),
		     "bad include-root \"%s\" on <lockout>: expected true or false", show(v[4], a));
		goto out;
	}
	pol->lockout_include_root = v[4] != NULL && strcmp(v[4], "true") == 0;
	r = LK_OK;
out:
	for (int i = 0; i < 5; i++)
		xmlFree(v[i]);
	return r;
}

/* Children of <policy>, in the order they must appear. */
enum section { SEC_STACK, SEC_SCOPES, SEC_STEPUP, SEC_KEY_RULES, SEC_LOCKOUT, SEC_N };
static const char *const section_names[SEC_N] = { "stack", "scopes", "step-up", "key-rules",
	                                          "lockout" };

static int parse_root(const xmlNode *root, struct lk_policy *pol, struct problem *p)
{
	char a[SHOW_MAX + 4];
	char *service = NULL, *env = NULL;
	xmlNode *c = NULL;
	int last = -1, r = LK_EINVAL;

	if (root->type != XML_ELEMENT_NODE || !is_named(root, "policy")) {
		note(p, LK_EINVAL, line_of(root), "the root element is <%s>, not <policy>",
		     show((const char *)root->name, a));
		goto out;
	}
	if (root->ns == NULL) {
		note(p, LK_EINVAL, line_of(root),
		     "<policy> has no namespace: it is not in namespace " NS_URI
		     " (add xmlns=\"" NS_URI "\")");
		goto out;
	}
	if (!in_ns(root)) {
		note(p, LK_EINVAL, line_of(root),
		     "<policy> is not in namespace " NS_URI " (xmlns=\"%s\")",
		     show((const char *)root->ns->href, a));
		goto out;
	}
	if (check_attrs(root, (const char *const[]){ "service", "environment", NULL }, p) < 0)
		goto out;
	if ((service = get_attr(root, "service", true, p)) == NULL ||
	    (env = get_attr(root, "environment", true, p)) == NULL)
		goto out;
	if (!lk_service_name_valid(service)) {
		note(p, LK_EINVAL, line_of(root),
		     "bad service \"%s\": expected a-z or 0-9, then up to %d of a-z, 0-9, . _ -",
		     show(service, a), LK_SERVICE_NAME_MAX - 1);
		goto out;
	}
	if (!lk_env_valid(env)) {
		note(p, LK_EINVAL, line_of(root), "bad environment \"%s\": expected 2 to 8 of a-z",
		     show(env, a));
		goto out;
	}
	snprintf(pol->service, sizeof(pol->service), "%s", service);
	snprintf(pol->environment, sizeof(pol->environment), "%s", env);
	pol->lockout_credential_failures = DEFAULT_CREDENTIAL_FAILURES;
	pol->lockout_source_failures = DEFAULT_SOURCE_FAILURES;
	pol->lockout_window = DEFAULT_LOCKOUT_WINDOW;
	pol->lockout_duration = DEFAULT_LOCKOUT_DURATION;

	while (next_element(root, &c, p)) {
		int sec;
		for (sec = 0; sec < SEC_N; sec++) {
			if (is_named(c, section_names[sec]))
				break;
		}
		if (sec == SEC_N) {
			note(p, LK_EINVAL, line_of(c), "unknown element <%s> in <policy>",
			     show((const char *)c->name, a));
			goto out;
		}
		if (sec < last || (sec == last && sec != SEC_STEPUP)) {
			note(p, LK_EINVAL, line_of(c),
			     sec == last ? "more than one <%s>"
			                 : "<%s> out of order: expected stack, scopes, step-up, "
			                   "key-rules, lockout",
			     section_names[sec]);
			goto out;
		}
		if (sec > SEC_STACK && last < SEC_STACK) {
			note(p, LK_EINVAL, line_of(c), "<%s> before <stack>: the stack comes first",
			     section_names[sec]);
			goto out;
		}
		last = sec;
		switch (sec) {
		case SEC_STACK:
			r = parse_stack(c, pol, p);
			break;
		case SEC_SCOPES:
			r = parse_scopes(c, pol, p);
			break;
		case SEC_STEPUP:
			r = parse_stepup(c, pol, p);
			break;
		case SEC_KEY_RULES:
			r = parse_key_rules(c, pol, p);
			break;
		default:
			r = parse_lockout(c, pol, p);
			break;
		}
		if (r < 0)
			goto out;
		r = LK_EINVAL;
	}
	if (p->rc != LK_OK)
		goto out;
	if (last < SEC_STACK) {
		note(p, LK_EINVAL, line_of(root), "<policy> has no <stack>");
		goto out;
	}
	r = LK_OK;
out:
	xmlFree(service);
	xmlFree(env);
	return r;
}

/* --------------------------------------------------------- schema */

static void validate(xmlDocPtr doc, struct problem *p)
{
	xmlRelaxNGParserCtxtPtr pctxt = NULL;
	xmlRelaxNGValidCtxtPtr vctxt = NULL;
	xmlRelaxNGPtr schema = NULL;
	struct problem schema_problem = { LK_OK, 0, "" };

	/* Parsed per call (about 0.1 ms): no libxml2 object is shared
	 * between threads. */
	pctxt = xmlRelaxNGNewMemParserCtxt(lk_policy_schema, (int)lk_policy_schema_len);
	if (pctxt == NULL) {
		note(p, LK_ENOMEM, 0, "out of memory");
		goto out;
	}
	xmlRelaxNGSetParserStructuredErrors(pctxt, on_schema_error, &schema_problem);
	schema = xmlRelaxNGParse(pctxt);
	if (schema == NULL) {
		/* Only a broken build or no memory gets here. */
		note(p, schema_problem.rc == LK_ENOMEM ? LK_ENOMEM : LK_EINVAL, 0,
		     "built-in schema unusable: %s", schema_problem.msg);
		goto out;
	}
	vctxt = xmlRelaxNGNewValidCtxt(schema);
	if (vctxt == NULL) {
		note(p, LK_ENOMEM, 0, "out of memory");
		goto out;
	}
	xmlRelaxNGSetValidStructuredErrors(vctxt, on_schema_error, p);
	if (xmlRelaxNGValidateDoc(vctxt, doc) != 0)
		note(p, LK_EINVAL, 0, "does not match the policy schema");
out:
	xmlRelaxNGFreeValidCtxt(vctxt);
	xmlRelaxNGFree(schema);
	xmlRelaxNGFreeParserCtxt(pctxt);
}

/* --------------------------------------------------------- public */

void lk_policy_free(struct lk_policy *policy)
{
	if (policy == NULL)
		return;
	for (size_t i = 0; policy->steps != NULL && i < policy->n_steps; i++) {
		for (size_t j = 0; j < policy->steps[i].n_args; j++)
			free(policy->steps[i].args[j]);
		free(policy->steps[i].args);
	}
	free(policy->steps);
	for (size_t i = 0; i < policy->n_scopes; i++)
		free(policy->scopes[i]);
	free(policy->scopes);
	for (size_t i = 0; policy->stepups != NULL && i < policy->n_stepups; i++) {
		for (size_t j = 0; j < policy->stepups[i].n_scopes; j++)
			free(policy->stepups[i].scopes[j]);
		free(policy->stepups[i].scopes);
		for (size_t j = 0; j < policy->stepups[i].n_args; j++)
			free(policy->stepups[i].args[j]);
		free(policy->stepups[i].args);
	}
	free(policy->stepups);
	free(policy->path);
	free(policy);
}

int lk_policy_parse(const char *buf, size_t len, const char *name, struct lk_policy **ret_policy,
                    struct lk_err *err)
{
	static const char empty[] = "";
	struct lk_policy *pol = NULL;
	xmlParserCtxtPtr ctxt = NULL;
	xmlDocPtr doc = NULL;
	xmlNodePtr root = NULL;
	struct problem xml = { LK_OK, 0, "" }, walk = { LK_OK, 0, "" };
	const struct problem *why;
	unsigned int md_len = 0;
	int r = LK_EINVAL;

	if (name == NULL)
		name = "(policy)";
	if (ret_policy == NULL || (buf == NULL && len > 0))
		return lk_err_set(err, LK_EINVAL, "%s: no policy given", name);
	if (len > LK_POLICY_MAX_BYTES)
		return lk_err_set(err, LK_EINVAL, "%s: larger than %d bytes (%zu); refusing it",
		                  name, LK_POLICY_MAX_BYTES, len);
	if (buf == NULL)
		buf = empty;
	if (pthread_once(&xml_once, xml_init) != 0)
		return lk_err_set(err, LK_ENOMEM, "%s: cannot initialise libxml2", name);

	if ((pol = calloc(1, sizeof(*pol))) == NULL || (pol->path = strdup(name)) == NULL) {
		r = lk_err_set(err, LK_ENOMEM, "%s: out of memory", name);
		goto out;
	}
	/* The hash is of exactly these bytes: what every decision records. */
	if (EVP_Digest(buf, len, pol->hash, &md_len, EVP_sha256(), NULL) != 1 ||
	    md_len != LK_POLICY_HASH_LEN) {
		r = lk_err_set(err, LK_ECRYPTO, "%s: SHA-256 failed", name);
		goto out;
	}
	for (size_t i = 0; i < LK_POLICY_HASH_LEN; i++)
		snprintf(pol->hash_hex + 2 * i, 3, "%02x", pol->hash[i]);

	if ((xml.line = too_many_attrs(buf, len)) > 0) {
		r = lk_err_set(err, LK_EINVAL, "%s:%ld: more than %d attributes in one policy",
		               name, xml.line, MAX_ATTRS);
		goto out;
	}
	if ((ctxt = xmlNewParserCtxt()) == NULL) {
		r = lk_err_set(err, LK_ENOMEM, "%s: out of memory", name);
		goto out;
	}
	ctxt->_private = &xml;
	ctxt->sax->serror = on_parse_error;
	ctxt->sax->internalSubset = refuse_dtd;
	ctxt->sax->externalSubset = refuse_dtd;
	ctxt->sax->entityDecl = refuse_entity;
	doc = xmlCtxtReadMemory(ctxt, buf, (int)len, NULL, "UTF-8", PARSE_OPTIONS);
	if (xml.rc == LK_OK && (doc == NULL || !ctxt->wellFormed))
		note(&xml, LK_EINVAL, ctxt->input != NULL ? ctxt->input->line : 0,
		     "not well-formed XML");
	/* Belt and braces: the SAX hooks above never let a DTD be built. */
	if (xml.rc == LK_OK && (doc->intSubset != NULL || doc->extSubset != NULL))
		note(&xml, LK_EINVAL, 1, "DOCTYPE declarations are not allowed in a policy");
	if (xml.rc == LK_OK && (root = xmlDocGetRootElement(doc)) == NULL)
		note(&xml, LK_EINVAL, 1, "no root element");
	if (xml.rc != LK_OK) {
		r = lk_err_set(err, xml.rc, "%s:%ld: %s", name, xml.line > 0 ? xml.line : 1L,
		               xml.msg);
		goto out;
	}

	/* Both the grammar and the walk must accept the document; the walk's
	 * message names the bad value, so it wins when both object. */
	validate(doc, &xml);
	if (parse_root(root, pol, &walk) < 0 && walk.rc == LK_OK)
		note(&walk, LK_EINVAL, line_of(root), "invalid policy"); /* never fail open */
	why = walk.rc != LK_OK ? &walk : &xml;
	if (why->rc != LK_OK) {
		r = lk_err_set(err, why->rc, "%s:%ld: %s", name, why->line > 0 ? why->line : 1L,
		               why->msg);
		goto out;
	}
	*ret_policy = pol;
	pol = NULL;
	r = LK_OK;
out:
	xmlFreeDoc(doc);
	xmlFreeParserCtxt(ctxt);
	lk_policy_free(pol);
	return r;
}

int lk_policy_load(const char *path, struct lk_policy **ret_policy, struct lk_err *err)
{
	struct stat st;
	char *buf = NULL;
	size_t got = 0;
	int fd = -1, r = LK_EINVAL;

	if (path == NULL || ret_policy == NULL)
		return lk_err_set(err, LK_EINVAL, "no policy file given");
	/* O_NOFOLLOW: a policy is the file an admin put there, not whatever a
	 * symlink points at. O_NONBLOCK: a FIFO must not hang the daemon. */
	fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (fd < 0) {
		if (errno == ELOOP)
			r = lk_err_set(err, LK_EINVAL, "%s: is a symbolic link; refusing it", path);
		else
			r = lk_err_set(err, errno == ENOENT ? LK_ENOTFOUND : LK_EIO, "%s: %s", path,
			               strerror(errno));
		goto out;
	}
	if (fstat(fd, &st) != 0) {
		r = lk_err_set(err, LK_EIO, "%s: %s", path, strerror(errno));
		goto out;
	}
	if (S_ISDIR(st.st_mode)) {
		r = lk_err_set(err, LK_EINVAL, "%s: is a directory, not a policy file", path);
		goto out;
	}
	if (!S_ISREG(st.st_mode)) {
		r = lk_err_set(err, LK_EINVAL, "%s: not a regular file; refusing it", path);
		goto out;
	}
	/* Whoever can write a policy decides who gets in. */
	if (lk_check_owner_mode(&st, "policy", path, 022, err) < 0) {
		r = LK_EINVAL;
		goto out;
	}
	if (st.st_size > LK_POLICY_MAX_BYTES) {
		r = lk_err_set(err, LK_EINVAL, "%s: larger than %d bytes (%lld); refusing it", path,
		               LK_POLICY_MAX_BYTES, (long long)st.st_size);
		goto out;
	}
	/* One byte more than fstat said, to notice a file still growing. */
	if ((buf = malloc((size_t)st.st_size + 1)) == NULL) {
		r = lk_err_set(err, LK_ENOMEM, "%s: out of memory", path);
		goto out;
	}
	while (got < (size_t)st.st_size + 1) {
		ssize_t n = read(fd, buf + got, (size_t)st.st_size + 1 - got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			r = lk_err_set(err, LK_EIO, "%s: %s", path, strerror(errno));
			goto out;
		}
		if (n == 0)
			break;
		got += (size_t)n;
	}
	if (got > (size_t)st.st_size) {
		r = lk_err_set(err, LK_EIO, "%s: changed while being read; try again", path);
		goto out;
	}
	r = lk_policy_parse(buf, got, path, ret_policy, err);
out:
	free(buf);
	if (fd >= 0)
		close(fd);
	return r;
}

/* No scopes: always; else when the request needs one of them, counting
 * the policy's own scopes. */
static bool stepup_applies(const struct lk_policy *policy, const struct lk_policy_stepup *su,
                           const char *const *req_scopes, size_t n_req_scopes)
{
	if (su->n_scopes == 0)
		return true;
	for (size_t j = 0; j < su->n_scopes; j++) {
		for (size_t k = 0; k < policy->n_scopes; k++) {
			if (strcmp(su->scopes[j], policy->scopes[k]) == 0)
				return true;
		}
		for (size_t k = 0; k < n_req_scopes; k++) {
			if (req_scopes[k] != NULL && strcmp(su->scopes[j], req_scopes[k]) == 0)
				return true;
		}
	}
	return false;
}

int lk_policy_stepups_for(const struct lk_policy *policy, const char *const *req_scopes,
                          size_t n_req_scopes, const char **ret_plugins, size_t max, size_t *ret_n)
{
	size_t n = 0;

	if (policy == NULL || ret_n == NULL || (req_scopes == NULL && n_req_scopes > 0) ||
	    (ret_plugins == NULL && max > 0))
		return LK_EINVAL;
	for (size_t i = 0; i < policy->n_stepups; i++)
		n += stepup_applies(policy, &policy->stepups[i], req_scopes, n_req_scopes);
	/* Too small an array must not drop a factor silently. */
	if (n > max)
		return LK_EINVAL;
	n = 0;
	for (size_t i = 0; i < policy->n_stepups; i++) {
		if (stepup_applies(policy, &policy->stepups[i], req_scopes, n_req_scopes))
			ret_plugins[n++] = policy->stepups[i].plugin;
	}
	*ret_n = n;
	return LK_OK;
}

/* --------------------------------------------------------- writing */

struct sbuf {
	char *p;
	size_t len, cap;
	bool oom;
};

static void sb_add(struct sbuf *b, const char *s, size_t n)
{
	if (b->oom)
		return;
	if (b->len + n + 1 > b->cap) {
		size_t cap = b->cap == 0 ? 1024 : b->cap;
		char *p;
		while (cap < b->len + n + 1)
			cap *= 2;
		if ((p = realloc(b->p, cap)) == NULL) {
			b->oom = true;
			return;
		}
		b->p = p;
		b->cap = cap;
	}
	memcpy(b->p + b->len, s, n);
	b->len += n;
	b->p[b->len] = '\0';
}

static void sb_str(struct sbuf *b, const char *s)
{
	sb_add(b, s, strlen(s));
}

/* Escaped for both text and double-quoted attribute values. */
static void sb_esc(struct sbuf *b, const char *s)
{
	for (; *s != '\0'; s++) {
		switch (*s) {
		case '&':
			sb_str(b, "&amp;");
			break;
		case '<':
			sb_str(b, "&lt;");
			break;
		case '>':
			sb_str(b, "&gt;");
			break;
		case '"':
			sb_str(b, "&quot;");
			break;
		case '\t':
			sb_str(b, "&#9;");
			break;
		case '\n':
			sb_str(b, "&#10;");
			break;
		case '\r':
			sb_str(b, "&#13;");
			break;
		default:
			sb_add(b, s, 1);
			break;
		}
	}
}

/* One <tag>text</tag> line per item ("scope", "arg"). */
static void sb_leaves(struct sbuf *b, const char *indent, const char *tag, char *const *items,
                      size_t n)
{
	for (size_t i = 0; i < n; i++) {
		sb_str(b, indent);
		sb_str(b, "<");
		sb_str(b, tag);
		sb_str(b, ">");
		sb_esc(b, items[i]);
		sb_str(b, "</");
		sb_str(b, tag);
		sb_str(b, ">\n");
	}
}

static void sb_attr_duration(struct sbuf *b, const char *name, int64_t seconds)
{
	char d[32];

	lk_duration_format(seconds, d, sizeof(d));
	sb_str(b, " ");
	sb_str(b, name);
	sb_str(b, "=\"");
	sb_esc(b, d);
	sb_str(b, "\"");
}

int lk_policy_to_xml(const struct lk_policy *policy, char **ret_xml, size_t *ret_len,
                     struct lk_err *err)
{
	struct sbuf b = { NULL, 0, 0, false };
	char num[32];
	int r = LK_EINVAL;

	if (policy == NULL || ret_xml == NULL)
		return lk_err_set(err, LK_EINVAL, "no policy to write");
	for (size_t i = 0; i < policy->n_steps; i++) {
		if ((int)policy->steps[i].control < LK_CONTROL_REQUIRED ||
		    policy->steps[i].control > LK_CONTROL_OPTIONAL) {
			r = lk_err_set(err, LK_EINVAL, "step %zu has no valid control", i + 1);
			goto out;
		}
	}
	sb_str(&b, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<policy xmlns=\"" NS_URI
	           "\" service=\"");
	sb_esc(&b, policy->service);
	sb_str(&b, "\" environment=\"");
	sb_esc(&b, policy->environment);
	sb_str(&b, "\">\n  <stack>\n");
	for (size_t i = 0; i < policy->n_steps; i++) {
		const struct lk_policy_step *s = &policy->steps[i];
		sb_str(&b, "    <step plugin=\"");
		sb_esc(&b, s->plugin);
		sb_str(&b, "\" control=\"");
		sb_str(&b, lk_control_str(s->control));
		if (s->n_args == 0) {
			sb_str(&b, "\"/>\n");
			continue;
		}
		sb_str(&b, "\">\n");
		sb_leaves(&b, "      ", "arg", s->args, s->n_args);
		sb_str(&b, "    </step>\n");
	}
	sb_str(&b, "  </stack>\n");
	if (policy->n_scopes > 0) {
		sb_str(&b, "  <scopes>\n");
		sb_leaves(&b, "    ", "scope", policy->scopes, policy->n_scopes);
		sb_str(&b, "  </scopes>\n");
	}
	for (size_t i = 0; i < policy->n_stepups; i++) {
		const struct lk_policy_stepup *su = &policy->stepups[i];
		sb_str(&b, "  <step-up plugin=\"");
		sb_esc(&b, su->plugin);
		if (su->n_scopes == 0 && su->n_args == 0) {
			sb_str(&b, "\"/>\n");
			continue;
		}
		sb_str(&b, "\">\n");
		sb_leaves(&b, "    ", "arg", su->args, su->n_args);
		sb_leaves(&b, "    ", "scope", su->scopes, su->n_scopes);
		sb_str(&b, "  </step-up>\n");
	}
	if (policy->has_key_rules) {
		sb_str(&b, "  <key-rules");
		sb_attr_duration(&b, "max-lifetime", policy->key_max_lifetime);
		sb_attr_duration(&b, "rotation-grace", policy->rotation_grace);
		sb_str(&b, policy->allow_never_expiring ? " allow-never-expiring=\"true\"/>\n"
		                                        : " allow-never-expiring=\"false\"/>\n");
	}
	snprintf(num, sizeof(num), "%u", policy->lockout_credential_failures);
	sb_str(&b, "  <lockout credential-failures=\"");
	sb_str(&b, num);
	snprintf(num, sizeof(num), "%u", policy->lockout_source_failures);
	sb_str(&b, "\" source-failures=\"");
	sb_str(&b, num);
	sb_str(&b, "\"");
	sb_attr_duration(&b, "window", policy->lockout_window);
	sb_attr_duration(&b, "duration", policy->lockout_duration);
	/* Written only when set, so the canonical form of every policy
	 * written before the attribute existed is unchanged. */
	if (policy->lockout_include_root)
		sb_str(&b, " include-root=\"true\"");
	sb_str(&b, "/>\n</policy>\n");
	if (b.oom) {
		r = lk_err_set(err, LK_ENOMEM, "out of memory writing policy %s", policy->service);
		goto out;
	}
	*ret_xml = b.p;
	if (ret_len != NULL)
		*ret_len = b.len;
	b.p = NULL;
	r = LK_OK;
out:
	free(b.p);
	return r;
}
