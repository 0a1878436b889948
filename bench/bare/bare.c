#include "bench/bare/bare.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

char *bare_read_file(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	char *buf = NULL;
	long n;
	if (!f || fseek(f, 0, SEEK_END) != 0 || (n = ftell(f)) < 0 || fseek(f, 0, SEEK_SET) != 0 ||
	    !(buf = malloc((size_t)n + 1)) || fread(buf, 1, (size_t)n, f) != (size_t)n) {
		fprintf(stderr, "bare: cannot read %s\n", path);
		free(buf);
		if (f)
			fclose(f);
		return NULL;
	}
	fclose(f);
	buf[n] = '\0';
	if (len)
		*len = (size_t)n;
	return buf;
}

int bare_listen(const char *port)
{
	char *end;
	long p = strtol(port, &end, 10);
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	int on = 1;
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)p),
				 .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	if (*end || p < 1 || p > 65535 || fd < 0 ||
	    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof on) != 0 ||
	    bind(fd, (struct sockaddr *)&a, sizeof a) != 0 || listen(fd, 4096) != 0) {
		perror("bare: cannot listen on 127.0.0.1");
		if (fd >= 0)
			close(fd);
		return -1;
	}
	return fd;
}

unsigned bare_threads(void)
{
	long cores = sysconf(_SC_NPROCESSORS_ONLN);
	return cores < 1 ? 1 : cores > BARE_MAX_THREADS ? BARE_MAX_THREADS : (unsigned)cores;
}

int bare_serve(const char *name, unsigned n, void *(*fn)(void *), void *args, size_t stride)
{
	pthread_t th[BARE_MAX_THREADS];
	for (unsigned i = 0; i < n; i++)
		if (pthread_create(&th[i], NULL, fn, (char *)args + i * stride) != 0) {
			fprintf(stderr, "%s: cannot start a thread\n", name);
			return 1;
		}
	printf("%s: ready, %u threads\n", name, n);
	fflush(stdout);
	pthread_join(th[0], NULL);
	return 0;
}
