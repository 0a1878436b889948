/* What bench/ceiling's two bare servers (mhdbare.c, sockfloor.c) share:
 * reading the file they serve and opening a loopback listener. Measurement
 * tools only; nothing here is part of prepd. */
#ifndef PREPD_BENCH_BARE_H
#define PREPD_BENCH_BARE_H

#include <stddef.h>

/* Connections each server takes: more than bench/ceiling opens (1,000). */
#define BARE_CONNECTION_LIMIT 20000
/* Threads at most (one a core). */
#define BARE_MAX_THREADS 64

/* The whole file, NUL-terminated, in a new buffer; its length in *len
 * when len is not NULL. NULL (and a line on stderr) when it cannot be
 * read. */
char *bare_read_file(const char *path, size_t *len);

/* A non-blocking listening socket on 127.0.0.1:port; -1 (and a line on
 * stderr) when it cannot be opened. */
int bare_listen(const char *port);

/* Cores online, 1 to BARE_MAX_THREADS. */
unsigned bare_threads(void);

/* Runs fn on n threads (n <= BARE_MAX_THREADS), thread i with
 * (char *)args + i * stride, says "NAME: ready" on stdout and waits for
 * ever. Returns 1 (and a line on stderr) if a thread cannot start. */
int bare_serve(const char *name, unsigned n, void *(*fn)(void *), void *args, size_t stride);

#endif
