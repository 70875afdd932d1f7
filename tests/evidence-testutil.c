/* SPDX-License-Identifier: Apache-2.0 */
#include "config.h"

#include <check.h>
#include <libxml/xmlschemas.h>
#include <libxml/xpath.h>
#include <libxml/xpathInternals.h>

#include "evidence-testutil.h"
#include "report-private.h"

double tk_xpath_number(const char *xml_path, const char *expr)
{
	xmlDocPtr doc;
	xmlXPathContextPtr ctx;
	xmlXPathObjectPtr o;
	double n;

	doc = xmlReadFile(xml_path, NULL, XML_PARSE_NONET);
	ck_assert_ptr_nonnull(doc);
	ctx = xmlXPathNewContext(doc);
	ck_assert_ptr_nonnull(ctx);
	xmlXPathRegisterNs(ctx, BAD_CAST "e", BAD_CAST LK_EVIDENCE_NS);
	o = xmlXPathEvalExpression(BAD_CAST expr, ctx);
	ck_assert_msg(o != NULL, "bad XPath %s", expr);
	n = xmlXPathCastToNumber(o);
	xmlXPathFreeObject(o);
	xmlXPathFreeContext(ctx);
	xmlFreeDoc(doc);
	return n;
}

void tk_assert_valid_evidence(const char *xml_path)
{
	xmlSchemaParserCtxtPtr pc;
	xmlSchemaPtr schema;
	xmlSchemaValidCtxtPtr vc;

	pc = xmlSchemaNewParserCtxt(TK_SRCDIR "/reports/evidence.xsd");
	ck_assert_ptr_nonnull(pc);
	schema = xmlSchemaParse(pc);
	ck_assert_ptr_nonnull(schema);
	vc = xmlSchemaNewValidCtxt(schema);
	ck_assert_ptr_nonnull(vc);
	ck_assert_msg(xmlSchemaValidateFile(vc, xml_path, 0) == 0, "%s does not validate",
	              xml_path);
	xmlSchemaFreeValidCtxt(vc);
	xmlSchemaFree(schema);
	xmlSchemaFreeParserCtxt(pc);
}
