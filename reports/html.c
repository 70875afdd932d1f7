/* SPDX-License-Identifier: Apache-2.0 */
/* report.html: evidence.xml, pruned as it is read back, through
 * evidence.xsl (libxslt). */
#include "config.h"

#include <fcntl.h>
#include <libxml/xmlreader.h>
#include <libxslt/transform.h>
#include <libxslt/xsltInternals.h>
#include <libxslt/xsltutils.h>
#include <stdio.h>
#include <unistd.h>

#include "pack-private.h"

/* Ends the element being built: a population that had more rows than
 * report.html shows says how many were left out. */
static int pruned_pop(xmlNodePtr *cur, int64_t *omitted, int *depth)
{
	char buf[32];

	if (omitted[*depth] > 0) {
		snprintf(buf, sizeof(buf), "%lld", (long long)omitted[*depth]);
		if (xmlNewProp(*cur, BAD_CAST "rows-omitted", BAD_CAST buf) == NULL)
			return -1;
	}
	*cur = (*cur)->parent;
	(*depth)--;
	return 0;
}

/*
 * evidence.xml read back with the streaming reader into a document that
 * keeps at most LK_REPORT_HTML_ROWS <row>s of each population: the input
 * of report.html. xmlReadFile would hold every row (hundreds of thousands
 * of single-factor successes over a quarter); xmlTextReaderPreserve cannot
 * prune, since once anything is preserved the reader frees nothing. So the
 * nodes are built here and the reader frees each one behind it.
 * Whitespace-only text is dropped: the stylesheet selects every node it
 * prints, and indent="yes" lays out the HTML.
 */
static xmlDocPtr read_pruned(int fd)
{
	enum { MAX_DEPTH = 32 };
	int64_t rows[MAX_DEPTH] = { 0 }, omitted[MAX_DEPTH] = { 0 };
	xmlTextReaderPtr rd;
	xmlDocPtr doc = NULL;
	xmlNodePtr cur = NULL;
	int depth = -1, rc;
	bool ok = false;

	/* The reader does not close fd. */
	rd = xmlReaderForFd(fd, "evidence.xml", NULL, XML_PARSE_NONET);
	if (rd == NULL)
		return NULL;
	if ((doc = xmlNewDoc(BAD_CAST "1.0")) == NULL)
		goto out;
	while ((rc = xmlTextReaderRead(rd)) == 1) {
		int type = xmlTextReaderNodeType(rd);
		const xmlChar *v;

		if (type == XML_READER_TYPE_ELEMENT) {
			const xmlChar *uri = xmlTextReaderConstNamespaceUri(rd);
			bool empty = xmlTextReaderIsEmptyElement(rd) == 1;
			xmlNodePtr n;
			xmlNsPtr ns = NULL;

			if (depth + 1 >= MAX_DEPTH)
				goto out;
			if (depth >= 0 &&
			    xmlStrEqual(xmlTextReaderConstLocalName(rd), BAD_CAST "row") &&
			    rows[depth]++ >= LK_REPORT_HTML_ROWS) {
				omitted[depth]++;
				if (!empty && xmlTextReaderNext(rd) != 1)
					goto out;
				continue;
			}
			n = xmlNewDocNode(doc, NULL, xmlTextReaderConstLocalName(rd), NULL);
			if (n == NULL)
				goto out;
			if (cur == NULL)
				xmlDocSetRootElement(doc, n);
			else
				xmlAddChild(cur, n);
			if (uri != NULL) {
				ns = xmlSearchNsByHref(doc, n, uri);
				if (ns == NULL &&
				    (ns = xmlNewNs(n, uri, xmlTextReaderConstPrefix(rd))) == NULL)
					goto out;
				xmlSetNs(n, ns);
			}
			while (xmlTextReaderMoveToNextAttribute(rd) == 1) {
				if (xmlTextReaderIsNamespaceDecl(rd) == 1)
					continue;
				if (xmlNewProp(n, xmlTextReaderConstLocalName(rd),
				               xmlTextReaderConstValue(rd)) == NULL)
					goto out;
			}
			xmlTextReaderMoveToElement(rd);
			if (!empty) {
				cur = n;
				depth++;
				rows[depth] = omitted[depth] = 0;
			}
		} else if (type == XML_READER_TYPE_END_ELEMENT) {
			if (cur == NULL || pruned_pop(&cur, omitted, &depth) < 0)
				goto out;
		} else if ((type == XML_READER_TYPE_TEXT || type == XML_READER_TYPE_CDATA) &&
		           cur != NULL && (v = xmlTextReaderConstValue(rd)) != NULL) {
			if (xmlAddChild(cur, xmlNewDocText(doc, v)) == NULL)
				goto out;
		}
	}
	ok = rc == 0 && depth == -1 && xmlDocGetRootElement(doc) != NULL;
out:
	xmlFreeTextReader(rd);
	if (!ok) {
		xmlFreeDoc(doc);
		doc = NULL;
	}
	return doc;
}

int ev_render(int dirfd, struct lk_err *err)
{
	xmlDocPtr style_doc = NULL, doc = NULL, html = NULL;
	xsltStylesheetPtr style = NULL;
	FILE *f = NULL;
	int ret = LK_EINVAL, fd;

	style_doc = xmlReadMemory(lk_evidence_xsl, (int)lk_evidence_xsl_len, "evidence.xsl", NULL,
	                          XML_PARSE_NONET);
	if (style_doc == NULL || (style = xsltParseStylesheetDoc(style_doc)) == NULL) {
		xmlFreeDoc(style_doc);
		return lk_err_set(err, LK_EINVAL,
		                  "the built-in evidence stylesheet does not parse");
	}
	fd = openat(dirfd, "evidence.xml", O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	doc = fd >= 0 ? read_pruned(fd) : NULL;
	if (fd >= 0)
		close(fd);
	if (doc == NULL) {
		ret = lk_err_set(err, LK_EIO, "cannot read back evidence.xml");
		goto out;
	}
	html = xsltApplyStylesheet(style, doc, NULL);
	if (html == NULL) {
		ret = lk_err_set(err, LK_EINVAL, "rendering report.html failed");
		goto out;
	}
	if ((f = ev_pack_open(dirfd, "report.html", err)) == NULL) {
		ret = LK_EIO;
		goto out;
	}
	if (xsltSaveResultToFile(f, html, style) < 0) {
		fclose(f);
		ret = lk_err_set(err, LK_EIO, "cannot write report.html");
		goto out;
	}
	ret = ev_pack_close(f, "report.html", err);
out:
	xmlFreeDoc(html);
	xmlFreeDoc(doc);
	xsltFreeStylesheet(style); /* frees style_doc */
	return ret;
}
