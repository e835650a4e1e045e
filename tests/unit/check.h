/*
 * check.h - the unit-test harness: a few macros, no framework.
 *
 * A test file defines cases as functions and lists them in main() with
 * RUN(fn). CHECK* macros record a failure with file:line and keep going,
 * so one run shows every broken expectation. main() returns check_done().
 */
#ifndef SE_TEST_CHECK_H
#define SE_TEST_CHECK_H

#include <stdio.h>
#include <string.h>

static int check_failures;
static int check_cases;
static int check_case_failed;

#define CHECK(cond)                                                                                \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            printf("    %s:%d: CHECK(%s) failed\n", __FILE__, __LINE__, #cond);                    \
            check_failures++;                                                                      \
            check_case_failed = 1;                                                                 \
        }                                                                                          \
    } while (0)

#define CHECK_EQ_INT(a, b)                                                                         \
    do {                                                                                           \
        long long check_a_ = (long long)(a), check_b_ = (long long)(b);                            \
        if (check_a_ != check_b_) {                                                                \
            printf("    %s:%d: %s == %lld, expected %s == %lld\n", __FILE__, __LINE__, #a,        \
                   check_a_, #b, check_b_);                                                        \
            check_failures++;                                                                      \
            check_case_failed = 1;                                                                 \
        }                                                                                          \
    } while (0)

#define CHECK_MEM(a, b, n)                                                                         \
    do {                                                                                           \
        if (memcmp((a), (b), (n)) != 0) {                                                          \
            printf("    %s:%d: memory %s != %s (%zu bytes)\n", __FILE__, __LINE__, #a, #b,         \
                   (size_t)(n));                                                                   \
            check_failures++;                                                                      \
            check_case_failed = 1;                                                                 \
        }                                                                                          \
    } while (0)

#define CHECK_STR(a, b)                                                                            \
    do {                                                                                           \
        const char *check_sa_ = (a), *check_sb_ = (b);                                             \
        if (!check_sa_ || !check_sb_ || strcmp(check_sa_, check_sb_) != 0) {                       \
            printf("    %s:%d: \"%s\" != \"%s\"\n", __FILE__, __LINE__,                            \
                   check_sa_ ? check_sa_ : "(null)", check_sb_ ? check_sb_ : "(null)");            \
            check_failures++;                                                                      \
            check_case_failed = 1;                                                                 \
        }                                                                                          \
    } while (0)

#define RUN(fn)                                                                                    \
    do {                                                                                           \
        check_case_failed = 0;                                                                     \
        check_cases++;                                                                             \
        fn();                                                                                      \
        printf("%s %s\n", check_case_failed ? "not ok" : "ok", #fn);                               \
    } while (0)

static inline int check_done(void)
{
    printf("%d cases, %d failed checks\n", check_cases, check_failures);
    return check_failures ? 1 : 0;
}

#endif
