/*
 * clock.h - the relay's clocks (header only).
 *
 * Workers keep w->now in monotonic seconds, refreshed once per callback;
 * token buckets at request rate use milliseconds; session rows and policy
 * time windows use wall-clock seconds. The coarse monotonic clock is read
 * from the vDSO without a system call, which is why it is used per
 * callback on the data path. Any thread.
 */
#ifndef SE_RELAY_CLOCK_H
#define SE_RELAY_CLOCK_H

#include <stdint.h>
#include <time.h>

/* Monotonic seconds (coarse clock: cheap, and seconds are all we need). */
static inline int64_t relay_now_mono(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
    return ts.tv_sec;
}

/* Monotonic milliseconds, for token buckets at request rate. */
static inline int64_t relay_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Monotonic nanoseconds (coarse), for byte buckets. */
static inline int64_t relay_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* Unix seconds (session rows, policy time windows). */
static inline int64_t relay_now_wall(void)
{
    return (int64_t)time(NULL);
}

#endif
