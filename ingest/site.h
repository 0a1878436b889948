/* What makes a full package a site: the checks a full cut passes before
 * it replaces the one served (R11: the institute's health check GETs the
 * page and looks for the single-page site's <base> tag). Pure functions,
 * kept apart so they can be table-tested (tests/unit/test-site.c). */
#ifndef PREPD_SITE_H
#define PREPD_SITE_H

#include <stdbool.h>
#include <stddef.h>

/* Whether html (an index.html; borrowed, need not end in NUL) has a real
 * <base> element with a non-empty href in its head, as a browser's HTML
 * parser would see it: tag and attribute names in any case, attribute
 * values quoted or not; nothing inside a comment, a <script>, <style>,
 * <template>, <noscript>, <title> or <textarea>, or an attribute value;
 * nothing after the head ends (</head>, <body>, any element that cannot
 * be in a head, or text). An empty or garbage file has none. Thread-safe. */
bool site_has_base(const void *html, size_t len);

#endif
