# tests/lib/netns.sh - source it first (before sedge.sh): the test runs
# again in a network namespace of its own whose only interface is lo, so
# nothing it starts can reach or be reached from outside. NETNS_MOUNT=1
# also gives it a mount namespace (private propagation), for tests that
# bind-mount over system paths. Needs root; skips (77) otherwise.
if [ -z "${SEDGE_IN_NETNS:-}" ]; then
    command -v unshare >/dev/null && [ "$(id -u)" = 0 ] || { echo "skip: needs root and unshare"; exit 77; }
    SEDGE_IN_NETNS=1 exec unshare --net ${NETNS_MOUNT:+--mount --propagation private} -- \
        bash -c 'ip link set lo up && exec bash "$0" "$@"' "$0" "$@"
fi
