/* Thread names through prctl: glibc's pthread_setname_np would do the same, this needs no
 * pthread_t (libuv hides it in uv_thread_t). */
#include "minewall/thrname.h"

#include <string.h>
#include <sys/prctl.h>

void mw_thread_name(const char *name)
{
    char b[16];
    strncpy(b, name, sizeof b - 1);
    b[sizeof b - 1] = '\0';
    (void)prctl(PR_SET_NAME, b, 0, 0, 0);
}

void mw_thread_name_get(char *buf, size_t len)
{
    char b[16] = "";
    (void)prctl(PR_GET_NAME, b, 0, 0, 0);
    b[sizeof b - 1] = '\0';
    if (len) {
        strncpy(buf, b, len - 1);
        buf[len - 1] = '\0';
    }
}
