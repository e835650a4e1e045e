#!/bin/sh
# Check the module dependency rules of docs/architecture.md:
#   relay/ never includes SQLite; record/ never includes relay/;
#   api/ reaches policy/ and auth/ only through their headers;
#   relay/'s module headers are private to relay/: from outside only its
#   contracts relay.h, stun.h and proxyproto.h (and relay/anchor/'s) are
#   included; policy/db_internal.h is private to policy/.
set -u
cd "$(dirname "$0")/.."
bad=0
check() { # description, grep args...
    desc=$1; shift
    out=$(grep -rnE "$@" 2>/dev/null)
    if [ -n "$out" ]; then echo "dependency rule broken: $desc"; echo "$out"; bad=1; fi
}
check "relay/ must not use SQLite" '#include [<"](sqlite3|policy/db)\.h' relay
check "record/ must not include relay/" '#include "relay/' record
check "api/ must use policy/auth headers only" '#include "(policy|auth)/[a-z_]+\.c"' api
out=$(grep -rnE '#include "relay/[a-z_]+\.h"' --include='*.c' --include='*.h' . |
      grep -v '^./relay/' | grep -vE '"relay/(relay|stun|proxyproto)\.h"')
[ -n "$out" ] && { echo "relay/ private header included outside relay/:"; echo "$out"; bad=1; }
out=$(grep -rln '#include "policy/db_internal.h"' --include='*.c' --include='*.h' . | grep -v '^./policy/')
[ -n "$out" ] && { echo "policy/db_internal.h included outside policy/:"; echo "$out"; bad=1; }
[ $bad -eq 0 ] && echo "dependency rules hold"
exit $bad
