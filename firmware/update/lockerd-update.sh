#!/bin/sh
# lockerd-update: install the release lockerd verified and spooled, prove it healthy,
# or reinstall the previous package (docs/updates.md, ADR 0064). Run as root by
# lockerd-update.service, which lockerd-update.path starts whenever the spool holds a
# request. Each step is written to the state file (atomically) before it is taken; an
# interrupted run (power cut, kill) is resumed by the next one from that step, and the
# path unit starts the next one at boot because the request is removed last.
set -eu

SPOOL=${LOCKERD_UPDATE_SPOOL:-/var/lib/lockerd/update}  # lockerd's; trusted for nothing
DIR=${LOCKERD_UPDATE_DIR:-/var/lib/lockerd-update}      # root's: state, packages
VERIFY=${LOCKERD_UPDATE_VERIFY:-/usr/bin/lockerd update verify --config /etc/lockerd/lockerd.yaml}
RESTART=${LOCKERD_UPDATE_RESTART:-}                    # tests play the supervisor
ROOT=${LOCKERD_UPDATE_ROOT:-/}                          # tests install into a scratch root
PKG=lockerd

get() { sed -n "s/^$1=//p" "$DIR/state" 2>/dev/null | head -n 1; }

# put STEP VERSION PREVIOUS COMMAND [REASON]: the state file, replaced atomically, and
# the step appended to the log lockerd reports events from (update.Report).
put() {
	serial=$(($(get serial || true) + 1))
	printf 'serial=%s\nstep=%s\nversion=%s\nprevious=%s\ncommand=%s\nreason=%s\ntimeout=%s\n' \
		"$serial" "$1" "$2" "$3" "$4" "${5:-}" "$TIMEOUT" >"$DIR/state.tmp"
	sync "$DIR/state.tmp"
	mv -f "$DIR/state.tmp" "$DIR/state"
	printf '%s\t%s\t%s\t%s\t%s\n' "$serial" "$1" "$2" "$4" "${5:-}" >>"$DIR/steps"
	sync "$DIR" "$DIR/steps"
	echo "lockerd-update: $1 $2${5:+ ($5)}"
}

dpkg_i() { dpkg --root="$ROOT" --force-downgrade --force-confold -i "$1"; }

# The verifier prints the health timeout (update.health_timeout) after the version; the
# state file keeps it for a resumed run.
TIMEOUT=${LOCKERD_UPDATE_HEALTH_TIMEOUT:-$(get timeout)}
TIMEOUT=${TIMEOUT:-120}

# healthy VERSION: whether lockerd, restarted, writes a stamp naming VERSION in time.
healthy() {
	rm -f "$SPOOL/health"
	if [ -n "$RESTART" ]; then
		$RESTART || return 1
	else # a release that crash-looped may have hit the start limit: clear it first
		systemctl reset-failed lockerd.service 2>/dev/null || true
		systemctl restart lockerd.service || return 1
	fi
	i=0
	while [ "$i" -lt "$TIMEOUT" ]; do
		[ "$(cut -d ' ' -f 1 "$SPOOL/health" 2>/dev/null)" = "$1" ] && return 0
		sleep 1
		i=$((i + 1))
	done
	return 1
}

# rollback VERSION PREVIOUS COMMAND REASON
rollback() {
	put rolling_back "$1" "$2" "$3" "$4"
	dpkg_i "$DIR/installed.deb"
	healthy "$2" || echo "lockerd-update: $2 is back but not healthy either" >&2
	rm -f "$DIR/new.deb" "$SPOOL/$PKG"_*.deb "$SPOOL/request.json"
	put rolled_back "$1" "$2" "$3" "$4"
}

# install VERSION PREVIOUS COMMAND: from installing (resumable) to healthy or rolled back.
install() {
	if [ ! -f "$DIR/new.deb" ]; then # cut after the package became installed.deb: done
		rm -f "$SPOOL/request.json"
		put healthy "$1" "$2" "$3"
		return
	fi
	put installing "$1" "$2" "$3"
	dpkg_i "$DIR/new.deb" || { rollback "$1" "$2" "$3" install_failed; return; }
	put installed "$1" "$2" "$3"
	healthy "$1" || { rollback "$1" "$2" "$3" unhealthy; return; }
	mv -f "$DIR/new.deb" "$DIR/installed.deb"
	sync "$DIR"
	rm -f "$SPOOL/$PKG"_*.deb "$SPOOL/request.json"
	put healthy "$1" "$2" "$3"
}

mkdir -p "$DIR"
chmod 0755 "$DIR"
case "$(get step)" in
installing | installed)
	install "$(get version)" "$(get previous)" "$(get command)"
	exit 0
	;;
rolling_back)
	rollback "$(get version)" "$(get previous)" "$(get command)" "$(get reason)"
	exit 0
	;;
esac
[ -f "$SPOOL/request.json" ] || exit 0
: >"$DIR/steps" # a new run; serials go on from the state file

current=$(dpkg-query --root="$ROOT" -W -f '${Version}' "$PKG")
command=$(sed -n 's/.*"command":"\([A-Za-z0-9._:-]*\)".*/\1/p' "$SPOOL/request.json")
if ! out=$($VERIFY -spool "$SPOOL" -copy "$DIR/new.deb" -installed "$current"); then
	reason=$(echo "$out" | sed -n 's/^refused //p')
	rm -f "$DIR/new.deb" "$SPOOL/request.json"
	put refused "" "$current" "$command" "${reason:-internal}"
	exit 0
fi
new=${out%% *}
TIMEOUT=${LOCKERD_UPDATE_HEALTH_TIMEOUT:-${out#* }}
# The way back: the package installed now. The first update after a manual install
# finds it in apt's cache or nowhere; without it nothing is installed.
if [ "$(dpkg-deb -f "$DIR/installed.deb" Version 2>/dev/null)" != "$current" ]; then
	for f in "$ROOT"/var/cache/apt/archives/"$PKG"_"$(echo "$current" | sed 's/:/%3a/')"_*.deb; do
		[ -f "$f" ] && cp "$f" "$DIR/installed.deb.tmp" && mv -f "$DIR/installed.deb.tmp" "$DIR/installed.deb"
	done
fi
if [ "$(dpkg-deb -f "$DIR/installed.deb" Version 2>/dev/null)" != "$current" ]; then
	rm -f "$DIR/new.deb" "$SPOOL/request.json"
	put refused "$new" "$current" "$command" no_previous
	exit 0
fi
install "$new" "$current" "$command"
