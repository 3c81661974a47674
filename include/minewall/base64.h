/* Base64 (RFC 4648): the standard alphabet (section 4, DoT SPKI pins) and the URL-safe one
 * (section 5, the `?dns=` of a DoH GET), both without padding characters: a caller that
 * expects '=' checks and strips it. Pure: no allocation. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Encode len bytes of in into out (cap bytes, NUL written), url picking the alphabet.
 * Returns the length of the text, or -ENOSPC. */
int mw_base64_encode(const uint8_t *in, size_t len, bool url, char *out, size_t cap);

/* Decode n characters of s (no padding, no other characters). Returns the bytes written, or
 * -EINVAL (a character outside the alphabet, an impossible length, non-zero bits past the
 * last byte) or -ENOSPC. */
int mw_base64_decode(const char *s, size_t n, bool url, uint8_t *out, size_t cap);
