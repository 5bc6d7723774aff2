/* rawhttp.c - test helper: send stdin to 127.0.0.1:PORT as is, print what
 * comes back until the server closes. Not a test itself.
 *
 * Usage: rawhttp PORT [--keep] [--wait SECONDS]
 *   --keep     do not half-close after sending (the server must close)
 *   --wait S   give up after S seconds without data (default 5): exit 3
 * Exit 0 when the server closed the connection, 3 on time-out, 1 on error.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

int main(int argc, char **argv)
{
    struct sockaddr_in sin;
    struct timeval tv = { 5, 0 };
    char buf[65536];
    int fd, i, keep = 0;
    ssize_t n;
    size_t len = 0;
    char *in = NULL;

    if (argc < 2)
        return 1;
    for (i = 2; i < argc; i++) {
        if (strcmp(argv[i], "--keep") == 0)
            keep = 1;
        else if (strcmp(argv[i], "--wait") == 0 && i + 1 < argc) {
            double w = atof(argv[++i]);

            tv.tv_sec = (time_t)w;
            tv.tv_usec = (suseconds_t)((w - (double)tv.tv_sec) * 1e6);
        }
    }
    while ((n = read(0, buf, sizeof buf)) > 0) {
        in = realloc(in, len + (size_t)n);
        memcpy(in + len, buf, (size_t)n);
        len += (size_t)n;
    }
    fd = socket(AF_INET, SOCK_STREAM, 0);
    memset(&sin, 0, sizeof sin);
    sin.sin_family = AF_INET;
    sin.sin_port = htons((unsigned short)atoi(argv[1]));
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(fd, (struct sockaddr *)&sin, sizeof sin) < 0) {
        perror("rawhttp: connect");
        return 1;
    }
    if (len > 0 && write(fd, in, len) != (ssize_t)len) {
        perror("rawhttp: write");
        return 1;
    }
    if (!keep)
        shutdown(fd, SHUT_WR);
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    for (;;) {
        n = read(fd, buf, sizeof buf);
        if (n == 0)
            break;
        if (n < 0) {
            if (errno == EAGAIN)
                return 3;
            if (errno == ECONNRESET)
                break;
            perror("rawhttp: read");
            return 1;
        }
        fwrite(buf, 1, (size_t)n, stdout);
    }
    free(in);
    close(fd);
    return 0;
}
