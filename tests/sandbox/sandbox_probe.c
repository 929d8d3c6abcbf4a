/* A harmless probe for the sandbox tests, built with `gcc -static` by the test session.
 *
 *   sandbox-probe ids   print the real/effective/saved uid and gid, then try setuid(0) and
 *                       setgid(0) and print what happened (it never runs anything else)
 *   sandbox-probe fds   open /dev/null until that fails and print how far it got, then try
 *                       to raise RLIMIT_NOFILE to 4096
 *   sandbox-probe unix NAME TEXT
 *                       connect to the abstract unix socket NAME and send TEXT and a newline
 *
 * Output is one `key=value` per line; errors are shown as errno names.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <stddef.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

static const char *errno_name(int err) {
    switch (err) {
    case 0: return "0";
    case EPERM: return "EPERM";
    case EACCES: return "EACCES";
    case EMFILE: return "EMFILE";
    case ENFILE: return "ENFILE";
    case EINVAL: return "EINVAL";
    case ECONNREFUSED: return "ECONNREFUSED";
    default: return strerror(err);
    }
}

static int ids(void) {
    uid_t ruid, euid, suid;
    gid_t rgid, egid, sgid;
    getresuid(&ruid, &euid, &suid);
    getresgid(&rgid, &egid, &sgid);
    printf("uids=%u,%u,%u\n", ruid, euid, suid);
    printf("gids=%u,%u,%u\n", rgid, egid, sgid);
    errno = 0;
    int rc = setuid(0);
    printf("setuid0=%d %s\n", rc, errno_name(rc ? errno : 0));
    errno = 0;
    rc = setgid(0);
    printf("setgid0=%d %s\n", rc, errno_name(rc ? errno : 0));
    return 0;
}

static int fds(void) {
    int opened = 0, highest = -1, err = 0;
    for (;;) {
        int fd = open("/dev/null", O_RDONLY);
        if (fd < 0) {
            err = errno;
            break;
        }
        opened++;
        if (fd > highest) highest = fd;
        if (opened > 100000) break; /* never reached with a limit in place */
    }
    struct rlimit lim;
    getrlimit(RLIMIT_NOFILE, &lim);
    printf("opened=%d\nhighest=%d\nerror=%s\n", opened, highest, errno_name(err));
    printf("soft=%llu\nhard=%llu\n", (unsigned long long)lim.rlim_cur,
           (unsigned long long)lim.rlim_max);
    struct rlimit more = {4096, 4096};
    errno = 0;
    int rc = setrlimit(RLIMIT_NOFILE, &more);
    printf("raise=%d %s\n", rc, errno_name(rc ? errno : 0));
    return 0;
}

static int unix_send(const char *name, const char *text) {
    struct sockaddr_un addr = {.sun_family = AF_UNIX};
    size_t len = strlen(name);
    if (len + 1 > sizeof(addr.sun_path)) return 2;
    memcpy(addr.sun_path + 1, name, len); /* sun_path[0] == 0: the abstract namespace */
    int fd = socket(AF_UNIX, SOCK_STREAM, 0);
    int rc = connect(fd, (struct sockaddr *)&addr, offsetof(struct sockaddr_un, sun_path) + 1 + len);
    printf("connect=%d %s\n", rc, errno_name(rc ? errno : 0));
    if (rc == 0) {
        dprintf(fd, "%s\n", text);
        close(fd);
    }
    return rc ? 1 : 0;
}

int main(int argc, char **argv) {
    if (argc == 2 && strcmp(argv[1], "ids") == 0) return ids();
    if (argc == 2 && strcmp(argv[1], "fds") == 0) return fds();
    if (argc == 4 && strcmp(argv[1], "unix") == 0) return unix_send(argv[2], argv[3]);
    fprintf(stderr, "usage: %s ids|fds|unix NAME TEXT\n", argv[0]);
    return 2;
}
