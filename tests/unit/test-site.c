/* site_has_base() against documents built from the HTML tokenizer and
 * tree-building rules (WHATWG HTML, "in head" insertion mode): what a
 * browser takes as the document's <base>, and what only looks like one. */
#include "check.h"
#include "ingest/site.h"

#include <string.h>

static const struct {
	const char *html;
	bool want;
	const char *why;
} table[] = {
	{ "<!doctype html>\n<html lang=\"es\">\n<head>\n  <meta charset=\"utf-8\">\n"
	  "  <title>PREP</title>\n  <base href=\"/\">\n</head>\n<body><app-root></app-root>"
	  "</body></html>\n", true, "an Angular index.html" },
	{ "<base href=/>", true, "no html or head tags: both implied" },
	{ "\xef\xbb\xbf<!DOCTYPE html><HTML><HEAD><BASE HREF='/prep/'></HEAD></HTML>", true,
	  "BOM, upper case, single quotes" },
	{ "<html><head><base\thref\n=\n\"/\"\n></head>", true, "spaces around '='" },
	{ "<head><meta content=\"a>b\"><base href=\"/\"></head>", true,
	  "a '>' inside an attribute value" },
	{ "<head><base target=_top><base href=/x/></head>", true,
	  "the first base has no href, the second does" },
	{ "<head><script>var s = '<base href=\"/\">';</script></head>", false,
	  "inside a script" },
	{ "<head><script type=module>x</script ><base href=\"/\"></head>", true,
	  "after a script whose end tag has a space" },
	{ "<head><!-- <base href=\"/\"> --></head>", false, "inside a comment" },
	{ "<head><!--> <base href=\"/\"></head>", true, "after an abruptly closed comment" },
	{ "<head><!-- never closed <base href=\"/\">", false, "an unclosed comment" },
	{ "<head><style>/* <base href=\"/\"> */</style></head>", false, "inside a style" },
	{ "<head><title><base href=\"/\"></title></head>", false, "inside the title" },
	{ "<head><template><base href=\"/\"></template></head>", false, "inside a template" },
	{ "<head><noscript><base href=\"/\"></noscript></head>", false, "inside noscript" },
	{ "<head><meta name=x content='<base href=/>'></head>", false,
	  "inside an attribute value" },
	{ "<head></head><body><base href=\"/\"></body>", false, "after the head ended" },
	{ "<head><div></div><base href=\"/\"></head>", false,
	  "a div opens the body before the base" },
	{ "<head>PREP<base href=\"/\"></head>", false, "text opens the body" },
	{ "<head><base></head>", false, "no href" },
	{ "<head><base href></head>", false, "an href without a value" },
	{ "<head><base href=\"  \"></head>", false, "a blank href" },
	{ "<head><base href=\"\" href=\"/\"></head>", false,
	  "a repeated attribute: the first (empty) one counts" },
	{ "<head><basefont><based href=/></head>", false, "names that start like base" },
	{ "<head><base href=\"/", false, "cut off inside the tag" },
	{ "", false, "empty" },
	{ "\x89PNG\r\n\x1a\n\0\0\0\rIHDR", false, "binary garbage" },
	{ "<html>\n<head>\n<link rel=stylesheet href=a.css>\n<base href=/>", true,
	  "a link before the base" },
	{ "<?xml version=\"1.0\"?><html><head><base href=\"/\"/></head></html>", true,
	  "an XML declaration (a bogus comment) and a self-closing base" },
	{ "< base href=/>", false, "'< ' is text, not a tag" },
};

int main(void)
{
	for (size_t i = 0; i < sizeof table / sizeof table[0]; i++) {
		bool got = site_has_base(table[i].html, strlen(table[i].html));
		CHECK(got == table[i].want, "%s: got %d", table[i].why, got);
	}
	/* The length, not a NUL, ends the document. */
	const char two[] = "<head><base href=/></head>";
	CHECK(!site_has_base(two, 10), "cut at 10 bytes: no base");
	const char nul[] = "<head>\0<base href=/>";
	CHECK(!site_has_base(nul, sizeof nul - 1), "a NUL byte is text: the body began");
	return check_done();
}
