/* prepd check URL: looks at a difusor's site the way the institute's portal
 * de difusores does before it lists it (R11): one GET, following http and
 * https redirects, that must answer 200 with an HTML <base> tag. It also
 * reports what a person setting up or monitoring a difusor wants to see:
 * the cut served (X-PREP-Cut), the TLS version, the cache headers and
 * whether another origin may frame the page (R10).
 *
 * Output is for people and for monitoring alike: one plain line per item
 * on stdout, "check key=value ...", ending with "check result=ok" or
 * "check result=fail reason=\"...\"". No prompts, no colour. */
#ifndef PREPD_CHECK_H
#define PREPD_CHECK_H

/* Runs `prepd check URL [--ca FILE] [--timeout SECONDS]`. argv[0] is the
 * subcommand's name ("check"); argv is borrowed (getopt may reorder it).
 * Usage errors go to stderr as "prepd check: what is wrong".
 *
 * Returns the process exit status: 0 when the page answered 200 and has a
 * <base> tag; 1 when it did not, or could not be fetched (unreachable,
 * TLS error, timeout, out of memory), with the reason on the result line;
 * 2 for a usage error (no URL, a URL that is not http:// or https://, an
 * unreadable --ca file, a bad --timeout).
 *
 * Initialises and cleans up libcurl itself, which is not thread-safe:
 * call it before any other thread exists, as main() does. */
int check_run(int argc, char **argv);

#endif
