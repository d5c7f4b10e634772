#!/bin/sh
# Assembles herald_VERSION_ARCH.deb with dpkg-deb from a release binary built with
# -DHERALD_DEFAULT_CONF="/etc/herald/herald.conf" (`make deb` builds it in build/deb/).
# VERSION comes from include/app/version.hpp, the one place it is written.
# Usage: pkg/build-deb.sh BINARY [OUTDIR]
set -eu
bin=${1:?usage: pkg/build-deb.sh BINARY [OUTDIR]}
top=$(cd "$(dirname "$0")/.." && pwd)
out=${2:-$top}
pkg=$top/pkg
version=$(sed -n 's/^#define HERALD_VERSION "\(.*\)"$/\1/p' "$top/include/app/version.hpp")
[ -n "$version" ] || { echo "build-deb.sh: no HERALD_VERSION in include/app/version.hpp" >&2; exit 1; }
arch=$(dpkg --print-architecture)
unitdir=$(pkg-config --variable=systemdsystemunitdir systemd 2>/dev/null || true)
[ -n "$unitdir" ] || unitdir=/lib/systemd/system
# Reproducible timestamps: the last commit, else now.
SOURCE_DATE_EPOCH=${SOURCE_DATE_EPOCH:-$(git -C "$top" log -1 --format=%ct 2>/dev/null || date +%s)}
export SOURCE_DATE_EPOCH

# The tree is staged outside build/: the Makefile includes every build/**/*.d, and the
# package has an etc/logrotate.d.
work=$(mktemp -d "${TMPDIR:-/tmp}/herald-deb.XXXXXX")
trap 'rm -rf "$work"' EXIT
stage=$work/root
umask 022
mkdir -p "$stage/DEBIAN" "$stage/usr/sbin" "$stage/etc/herald" "$stage/etc/logrotate.d" \
    "$stage$unitdir" "$stage/usr/share/herald" "$stage/usr/share/man/man8" \
    "$stage/usr/share/man/man5" "$stage/usr/share/doc/herald"

"$bin" -v >/dev/null || { echo "build-deb.sh: $bin does not run" >&2; exit 1; }
install -m 0755 "$bin" "$stage/usr/sbin/herald"
strip --strip-unneeded --remove-section=.comment --remove-section=.note "$stage/usr/sbin/herald" ||
    { echo "build-deb.sh: strip $bin failed" >&2; exit 1; }
"$pkg/mkconf.sh" "$top/conf/herald.conf" > "$stage/etc/herald/herald.conf"
chmod 0644 "$stage/etc/herald/herald.conf"
install -m 0644 "$top/conf/mime.types" "$stage/etc/herald/mime.types"
install -m 0644 "$pkg/herald.logrotate" "$stage/etc/logrotate.d/herald"
install -m 0644 "$pkg/herald.service" "$stage$unitdir/herald.service"
cp -R "$top/www" "$stage/usr/share/herald/www"
find "$stage/usr/share/herald/www" -type d -exec chmod 0755 {} + -o -type f -exec chmod 0644 {} +
install -m 0644 "$pkg/grafana-herald.json" "$stage/usr/share/herald/grafana-herald.json"

# The packaged config must load (with its include pointed at the staged mime.types). `-t`
# also checks that `user` exists, and the herald user is only created at install (postinst):
# the check runs as the building user instead.
sed -e "s#/etc/herald/mime.types#$stage/etc/herald/mime.types#" \
    -e "s#^user herald;#user $(id -un);#" "$stage/etc/herald/herald.conf" \
    > "$work/check.conf"
"$bin" -t -q -c "$work/check.conf"

subst() {
    sed -e "s#@VERSION@#$version#g" -e "s#@DEFAULT_CONF@#/etc/herald/herald.conf#g" "$@"
}
subst "$pkg/man/herald.8" | gzip -9n > "$stage/usr/share/man/man8/herald.8.gz"
awk -f "$pkg/man/readme2man.awk" "$top/README.md" > "$work/directives.roff"
subst "$pkg/man/herald.conf.5.in" |
    awk -v f="$work/directives.roff" \
        '$0 == "@DIRECTIVES@" { while ((getline l < f) > 0) print l; next } { print }' |
    gzip -9n > "$stage/usr/share/man/man5/herald.conf.5.gz"

install -m 0644 "$pkg/debian/copyright" "$stage/usr/share/doc/herald/copyright"
install -D -m 0644 "$pkg/debian/lintian-overrides" "$stage/usr/share/lintian/overrides/herald"
{
    printf 'herald (%s) unstable; urgency=medium\n\n' "$version"
    printf '  * Release %s: see README.md.\n\n' "$version"
    printf ' -- herald maintainers <herald@users.noreply.github.com>  %s\n' \
        "$(LC_ALL=C date -u -R -d "@$SOURCE_DATE_EPOCH")"
} | gzip -9n > "$stage/usr/share/doc/herald/changelog.gz"

for s in postinst prerm postrm; do install -m 0755 "$pkg/debian/$s" "$stage/DEBIAN/$s"; done
install -m 0644 "$pkg/debian/conffiles" "$stage/DEBIAN/conffiles"

# Shared-library dependencies, as dpkg-shlibdeps computes them (it wants a debian/control).
shl=$work/shlibs
mkdir -p "$shl/debian"
printf 'Source: herald\n\nPackage: herald\nArchitecture: any\n' > "$shl/debian/control"
shlibs=$(cd "$shl" && dpkg-shlibdeps -O "$stage/usr/sbin/herald" 2>/dev/null |
    sed -n 's/^shlibs:Depends=//p')
[ -n "$shlibs" ] || { echo "build-deb.sh: dpkg-shlibdeps found no dependencies" >&2; exit 1; }
size=$(du -sk --exclude=DEBIAN "$stage" | cut -f1)
subst "$pkg/debian/control.in" | sed -e "s#@ARCH@#$arch#" -e "s#@SIZE@#$size#" \
    -e "s#@SHLIBS@#$shlibs#" > "$stage/DEBIAN/control"
(cd "$stage" && find . -path ./DEBIAN -prune -o -type f -print | sed 's#^\./##' | LC_ALL=C sort |
    xargs md5sum) > "$stage/DEBIAN/md5sums"
chmod 0644 "$stage/DEBIAN/md5sums"

# Files dated by SOURCE_DATE_EPOCH, owned by root: the same tree gives the same .deb.
find "$stage" -exec touch -h -d "@$SOURCE_DATE_EPOCH" {} +
deb=$out/herald_${version}_${arch}.deb
dpkg-deb --root-owner-group -Zxz --build "$stage" "$deb" >/dev/null
echo "$deb"
