/* The Range request header (RFC 9110 section 14), for users resuming
 * downloads of the CSV database. Only single byte ranges are honoured; a
 * multi-range request gets the whole file, which the RFC allows. */
#ifndef PREPD_RANGE_H
#define PREPD_RANGE_H

#include <stdint.h>

enum range_result {
	RANGE_NONE,          /* no usable Range: send the whole file (200) */
	RANGE_OK,            /* send bytes [first, last] (206) */
	RANGE_UNSATISFIABLE, /* 416 with Content-Range: bytes * / size */
};

/* Parses a Range value against a representation of size bytes.
 * Absent, malformed, non-"bytes" and multi-range values give RANGE_NONE. */
enum range_result range_parse(const char *value, uint64_t size,
			      uint64_t *first, uint64_t *last);

#endif
