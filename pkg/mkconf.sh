#!/bin/sh
# Writes the packaged /etc/herald/herald.conf to stdout, derived from the development config
# (conf/herald.conf) so that the demo routes stay the same: absolute paths, port 8080 on every
# interface, `user herald`, logs in /var/log/herald, pid /run/herald.pid.
# Each rewrite must match exactly one line; if conf/herald.conf changes shape, this fails
# loudly instead of shipping a config that silently differs.
# Usage: pkg/mkconf.sh conf/herald.conf > herald.conf
set -eu
src=${1:?usage: pkg/mkconf.sh conf/herald.conf}

# pattern (extended regex, whole line) -> replacement text
rules='
^error_log [^;]*;.*$|error_log /var/log/herald/error.log notice;
^#? *pid [^;]*;.*$|pid /run/herald.pid;            # read by `herald -s`; locked while herald runs\nuser herald;                    # started as root: bind, open logs, then serve as herald
^ *include mime.types;.*$|    include /etc/herald/mime.types;
^ *access_log off;.*$|    access_log /var/log/herald/access.log;
^ *listen 127.0.0.1:8080;.*$|        listen 8080;            # every interface (127.0.0.1:8080 for this host only)
^ *root \.\./www;.*$|        root /usr/share/herald/www;
'
out=$(mktemp)
trap 'rm -f "$out" "$out.new"' EXIT
# The header comment of the development config is replaced by the packaged one.
cat > "$out" <<'HEAD'
# /etc/herald/herald.conf: herald's configuration (nginx-style syntax), see herald.conf(5).
# Serves the demo pages in /usr/share/herald/www on http://HOST:8080/ with one route per push
# strategy. Check a change with `herald -t`, apply it with `systemctl reload herald`
# (or `herald -s reload`): connected subscribers stay connected.
HEAD
awk 'head && /^#/ { next } { head = 0; print }' head=1 "$src" |
    sed -e '/^ *# access_log /d' -e '/^#\{0,1\} *user /d' >> "$out"
printf '%s\n' "$rules" | while IFS='|' read -r pat rep; do
    [ -n "$pat" ] || continue
    n=$(grep -cE "$pat" "$out" || true)
    if [ "$n" -ne 1 ]; then
        echo "pkg/mkconf.sh: \"$pat\" matches $n lines of $src (want 1)" >&2
        exit 1
    fi
    awk -v pat="$pat" -v rep="$rep" '$0 ~ pat { gsub(/\\n/, "\n", rep); print rep; next } { print }' \
        "$out" > "$out.new"
    mv "$out.new" "$out"
done
cat "$out"
