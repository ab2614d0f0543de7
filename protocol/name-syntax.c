/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * name-syntax.c — syntax of everything the bus names: bus names (unique and
 * well-known), interfaces, members, error names, object paths, keys, and
 * the UTF-8 check they and message bodies share; rendering and parsing of
 * unique names.
 *
 * Invariants: every validator accepts NULL (and says no), never reads past
 * BUS_NAME_MAX + 1 bytes of its input, and agrees with PROTOCOL.md section 4.
 */
#include <string.h>
#ifdef __SSE2__
#include <emmintrin.h>
#endif

#include "bus-protocol.h"

#define UNIQUE_PREFIX ":1."
#define UNIQUE_PREFIX_LEN 3u
#define UINT64_DIGITS_MAX 20u /* 18446744073709551615 */

/* True if a 64-bit word holds a byte >= 0x80, or (with @reject_nul) a zero
 * byte: the classic "has a zero byte" test, (w - 0x01..) & ~w & 0x80... */
static bool word_needs_slow_path(uint64_t w, bool reject_nul) {
        const uint64_t ones = UINT64_C(0x0101010101010101), highs = UINT64_C(0x8080808080808080);

        return (w & highs) || (reject_nul && ((w - ones) & ~w & highs));
}

/* Length of the leading run of @p that is plain ASCII (and, with
 * @reject_nul, without NUL), measured 64 bytes at a time, so the slow path
 * below starts at most 63 bytes before the first byte that needs it. SSE2 is
 * part of x86-64: two instructions test 16 bytes for "high bit set or zero". */
static size_t ascii_run(const uint8_t *p, size_t len, bool reject_nul) {
        size_t i = 0;

#ifdef __SSE2__
        const __m128i zero = _mm_setzero_si128();

        for (; len - i >= 64; i += 64) {
                __m128i a = _mm_loadu_si128((const __m128i *)(p + i));
                __m128i b = _mm_loadu_si128((const __m128i *)(p + i + 16));
                __m128i c = _mm_loadu_si128((const __m128i *)(p + i + 32));
                __m128i d = _mm_loadu_si128((const __m128i *)(p + i + 48));
                __m128i any = _mm_or_si128(_mm_or_si128(a, b), _mm_or_si128(c, d));

                if (reject_nul) {
                        __m128i nul = _mm_or_si128(
                                _mm_or_si128(_mm_cmpeq_epi8(a, zero), _mm_cmpeq_epi8(b, zero)),
                                _mm_or_si128(_mm_cmpeq_epi8(c, zero), _mm_cmpeq_epi8(d, zero)));

                        any = _mm_or_si128(any, nul);
                }
                if (_mm_movemask_epi8(any) != 0)
                        break;
        }
#else
        for (; len - i >= 4 * sizeof(uint64_t); i += 4 * sizeof(uint64_t)) {
                uint64_t w[4];

                memcpy(w, p + i, sizeof(w));
                if (word_needs_slow_path(w[0], reject_nul) ||
                    word_needs_slow_path(w[1], reject_nul) ||
                    word_needs_slow_path(w[2], reject_nul) || word_needs_slow_path(w[3], reject_nul))
                        break;
        }
#endif
        for (; len - i >= sizeof(uint64_t); i += sizeof(uint64_t)) {
                uint64_t w;

                memcpy(&w, p + i, sizeof(w));
                if (word_needs_slow_path(w, reject_nul))
                        break;
        }
        return i;
}

static bool utf8_check(const char *s, size_t len, bool reject_nul) {
        const uint8_t *p = (const uint8_t *)s;
        size_t i = 0;

        while (i < len) {
                uint32_t c, cp, min;
                size_t n;

                /* ASCII fast path: bodies are mostly ASCII JSON, and a byte
                 * loop costs ~5 instructions a byte (docs/PERFORMANCE.md). */
                i += ascii_run(p + i, len - i, reject_nul);
                if (i == len)
                        break;
                c = p[i];
                if (c == 0 && reject_nul)
                        return false;
                if (c < 0x80) {
                        i++;
                        continue;
                }
                if ((c & 0xe0) == 0xc0) {
                        n = 1;
                        cp = c & 0x1f;
                        min = 0x80;
                } else if ((c & 0xf0) == 0xe0) {
                        n = 2;
                        cp = c & 0x0f;
                        min = 0x800;
                } else if ((c & 0xf8) == 0xf0) {
                        n = 3;
                        cp = c & 0x07;
                        min = 0x10000;
                } else {
                        return false; /* continuation byte or 0xf8..0xff lead */
                }
                if (len - i - 1 < n)
                        return false;
                for (size_t k = 1; k <= n; k++) {
                        uint32_t b = p[i + k];

                        if ((b & 0xc0) != 0x80)
                                return false;
                        cp = (cp << 6) | (b & 0x3f);
                }
                if (cp < min)
                        return false; /* overlong */
                if (cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
                        return false;
                i += n + 1;
        }
        return true;
}

bool bus_utf8_is_valid(const char *s, size_t len) {
        return utf8_check(s, len, false);
}

bool bus_text_is_valid(const char *s, size_t len) {
        return utf8_check(s, len, true);
}

/* Bytes in the UTF-8 sequence led by @c (1..4), 0 for a byte that cannot
 * lead one (a continuation byte, 0xf8..0xff). */
static size_t utf8_sequence_length(unsigned char c) {
        if (c < 0x80)
                return 1;
        if ((c & 0xe0) == 0xc0)
                return 2;
        if ((c & 0xf0) == 0xe0)
                return 3;
        if ((c & 0xf8) == 0xf0)
                return 4;
        return 0;
}

size_t bus_utf8_copy_valid(char *dst, size_t size, const char *src) {
        static const char replacement[] = "\xef\xbf\xbd"; /* U+FFFD */
        size_t len = strlen(src), i = 0, o = 0;

        while (i < len) {
                size_t n = utf8_sequence_length((unsigned char)src[i]);
                const char *piece = src + i;
                size_t k = n;

                if (n == 0 || n > len - i || !bus_utf8_is_valid(src + i, n)) {
                        piece = replacement;
                        k = sizeof(replacement) - 1;
                        n = 1;
                }
                if (k >= size - o)
                        break; /* the rest does not fit: cut between characters */
                memcpy(dst + o, piece, k);
                o += k;
                i += n;
        }
        dst[o] = '\0';
        return o;
}

size_t bus_utf8_cut(const char *s, size_t max) {
        size_t n = strnlen(s, max);

        /* Cut before the lead byte of a character that does not fit whole;
         * other broken bytes are bus_utf8_copy_valid()'s business. */
        if (n < max || s[n] == '\0')
                return n;
        for (size_t back = 1; back <= 3 && back <= n; back++) {
                size_t len = utf8_sequence_length((unsigned char)s[n - back]);

                if (len == 0)
                        continue; /* a continuation byte: look further back */
                return len > back ? n - back : n;
        }
        return n;
}

/* Length of @s if it is 1..BUS_NAME_MAX bytes, else 0. */
static size_t name_length(const char *s) {
        size_t n;

        if (!s)
                return 0;
        n = strnlen(s, BUS_NAME_MAX + 1);
        return n > BUS_NAME_MAX ? 0 : n;
}

static bool is_digit(char c) {
        return c >= '0' && c <= '9';
}

/* Character classes of name syntax, one table lookup per byte (a chain of
 * range compares costs ~10 instructions a byte, and every message the broker
 * routes has 2-4 names checked). NUL and every byte >= 0x80 are in no class. */
enum {
        CC_WORD = 1 << 0,  /* [A-Za-z0-9_]: elements of every dotted name and path */
        CC_DIGIT = 1 << 1, /* [0-9]: may not start an element or a member */
        CC_DASH = 1 << 2,  /* '-': also allowed in well-known bus names */
};

#define CC_RANGE(a, b, v) [(a)...(b)] = (v)
static const uint8_t char_class[256] = {
        CC_RANGE('A', 'Z', CC_WORD), CC_RANGE('a', 'z', CC_WORD),
        CC_RANGE('0', '9', CC_WORD | CC_DIGIT), ['_'] = CC_WORD, ['-'] = CC_DASH,
};

/* A valid name's terminating NUL is at most this many bytes in: no validator
 * reads further. */
#define NAME_SCAN_MAX (BUS_NAME_MAX + 1u)

/* Scan one element of @allowed characters from s[*i]; false if it is empty
 * or starts with a digit. */
static bool element_scan(const char *s, size_t *i, uint8_t allowed) {
        size_t j = *i;
        uint8_t first;

        if (j >= NAME_SCAN_MAX)
                return false;
        first = char_class[(uint8_t)s[j]];
        if (!(first & allowed) || (first & CC_DIGIT))
                return false;
        for (j++; j < NAME_SCAN_MAX && (char_class[(uint8_t)s[j]] & allowed); j++)
                ;
        *i = j;
        return true;
}

/* Is s[@i] the terminating NUL of a name of legal length? */
static bool name_ends_at(const char *s, size_t i) {
        return i <= BUS_NAME_MAX && s[i] == '\0';
}

/* Dot-separated elements of [A-Za-z0-9_] (and '-' if @dash), at least two,
 * none empty, none starting with a digit. */
static bool dotted_name_is_valid(const char *s, bool dash) {
        uint8_t allowed = CC_WORD | (dash ? CC_DASH : 0);
        size_t i = 0, elements = 0;

        if (!s)
                return false;
        for (;;) {
                if (!element_scan(s, &i, allowed))
                        return false;
                elements++;
                if (i >= NAME_SCAN_MAX || s[i] != '.')
                        break;
                i++;
        }
        return elements >= 2 && name_ends_at(s, i);
}

bool bus_wellknown_name_is_valid(const char *s) {
        return dotted_name_is_valid(s, true);
}

bool bus_interface_is_valid(const char *s) {
        return dotted_name_is_valid(s, false);
}

bool bus_error_name_is_valid(const char *s) {
        return dotted_name_is_valid(s, false);
}

bool bus_name_is_valid(const char *s) {
        if (s && s[0] == ':')
                return bus_unique_name_parse(s, NULL);
        return bus_wellknown_name_is_valid(s);
}

bool bus_member_is_valid(const char *s) {
        size_t i = 0;

        return s && element_scan(s, &i, CC_WORD) && name_ends_at(s, i);
}

/* "/", or "/" followed by '/'-separated non-empty elements of [A-Za-z0-9_]
 * (a path element may start with a digit). */
bool bus_path_is_valid(const char *s) {
        size_t i = 1;

        if (!s || s[0] != '/')
                return false;
        if (s[1] == '\0')
                return true;
        for (;;) {
                size_t start = i;

                while (i < NAME_SCAN_MAX && (char_class[(uint8_t)s[i]] & CC_WORD))
                        i++;
                if (i == start)
                        return false; /* empty element (or a bad byte) */
                if (i >= NAME_SCAN_MAX || s[i] != '/')
                        break;
                i++;
        }
        return name_ends_at(s, i);
}

bool bus_key_is_valid(const char *s) {
        size_t n = name_length(s);

        return n > 0 && bus_utf8_is_valid(s, n);
}

bool bus_path_in_namespace(const char *path, const char *ns) {
        size_t n;

        if (!path || !ns)
                return false;
        if (strcmp(ns, "/") == 0)
                return path[0] == '/';
        n = strlen(ns);
        return strncmp(path, ns, n) == 0 && (path[n] == '\0' || path[n] == '/');
}

size_t bus_unique_name_format(uint64_t id, char buf[static BUS_UNIQUE_NAME_BUF]) {
        char digits[UINT64_DIGITS_MAX];
        size_t n = 0, len = UNIQUE_PREFIX_LEN;

        do {
                digits[n++] = (char)('0' + id % 10u);
                id /= 10u;
        } while (id > 0);

        memcpy(buf, UNIQUE_PREFIX, UNIQUE_PREFIX_LEN);
        while (n > 0)
                buf[len++] = digits[--n];
        buf[len] = '\0';
        return len;
}

bool bus_unique_name_parse(const char *s, uint64_t *ret_id) {
        uint64_t id = 0;
        size_t i;

        if (!s || strncmp(s, UNIQUE_PREFIX, UNIQUE_PREFIX_LEN) != 0)
                return false;
        s += UNIQUE_PREFIX_LEN;
        if (s[0] < '1' || s[0] > '9')
                return false; /* empty, leading zero, or id 0 */
        for (i = 0; is_digit(s[i]); i++) {
                uint64_t d = (uint64_t)(s[i] - '0');

                if (i >= UINT64_DIGITS_MAX || id > (UINT64_MAX - d) / 10u)
                        return false;
                id = id * 10u + d;
        }
        if (s[i] != '\0')
                return false;

        if (ret_id)
                *ret_id = id;
        return true;
}

bool bus_origin_parse(const char *s, size_t *ret_host_len, uint32_t *ret_uid,
                      const char **ret_unique) {
        uint64_t uid = 0;
        size_t host_len = 0, i;

        if (!s || name_length(s) == 0)
                return false; /* NULL, empty or longer than BUS_NAME_MAX */
        while (host_len < BUS_ORIGIN_HOST_MAX &&
               ((s[host_len] >= 'A' && s[host_len] <= 'Z') ||
                (s[host_len] >= 'a' && s[host_len] <= 'z') || is_digit(s[host_len]) ||
                s[host_len] == '_' || s[host_len] == '-'))
                host_len++;
        if (host_len == 0 || s[host_len] != '/')
                return false;
        i = host_len + 1;
        if (!is_digit(s[i]) || (s[i] == '0' && s[i + 1] != '/'))
                return false; /* empty or a leading zero */
        for (; is_digit(s[i]); i++) {
                uid = uid * 10u + (uint64_t)(s[i] - '0');
                if (uid >= UINT32_MAX)
                        return false; /* (uid_t)-1 is no uid */
        }
        if (s[i] != '/' || !bus_unique_name_parse(s + i + 1, NULL))
                return false;

        if (ret_host_len)
                *ret_host_len = host_len;
        if (ret_uid)
                *ret_uid = (uint32_t)uid;
        if (ret_unique)
                *ret_unique = s + i + 1;
        return true;
}

bool bus_origin_is_valid(const char *s) {
        return bus_origin_parse(s, NULL, NULL, NULL);
}
