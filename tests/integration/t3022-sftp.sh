#!/usr/bin/env bash
# sftp:// upstreams through the same pull code (R3), against a throwaway
# OpenSSH server on loopback: key login, a known-hosts check that refuses
# an unknown host key, and no new download while the file is unchanged.
. "$(dirname "$0")/lib.sh"

[[ -x /usr/sbin/sshd ]] || fail "sshd missing (script/bootstrap installs openssh-server)"
ssh-keygen -q -t ed25519 -N '' -f "$T/host_key"
ssh-keygen -q -t ed25519 -N '' -f "$T/other_host_key"
ssh-keygen -q -t ed25519 -N '' -f "$T/client_key"
cp "$T/client_key.pub" "$T/authorized_keys"
chmod 600 "$T/authorized_keys"
mkdir -p /run/sshd "$T/root"
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
cat >"$T/sshd_config" <<CFG
Port $port
ListenAddress 127.0.0.1
HostKey $T/host_key
PidFile $T/sshd.pid
AuthorizedKeysFile $T/authorized_keys
PermitRootLogin prohibit-password
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
StrictModes no
Subsystem sftp internal-sftp
CFG
/usr/sbin/sshd -D -e -f "$T/sshd_config" 2>"$T/sshd.log" &
PIDS+=("$!")
for ((i = 0; i < 50; i++)); do
	python3 -c 'import socket,sys; socket.create_connection(("127.0.0.1", int(sys.argv[1])), 1)' "$port" 2>/dev/null && break
	sleep 0.1
done
user=$(id -un)
echo "[127.0.0.1]:$port $(cut -d' ' -f1-2 "$T/host_key.pub")" >"$T/known_hosts"
echo "[127.0.0.1]:$port $(cut -d' ' -f1-2 "$T/other_host_key.pub")" >"$T/wrong_known_hosts"
cp "$PKGDIR/20240602_2215_PREP_PRES_NAL.tar.gz" "$T/root/PREP.tar.gz"
url="sftp://$user@127.0.0.1:$port$T/root/PREP.tar.gz"

# An sftp:// upstream without known_hosts is refused at start-up.
rc=0; "$PREPD" --http 127.0.0.1:0 --data "$T/nokh" --upstream "$url" >"$T/nokh.log" 2>&1 || rc=$?
[[ $rc -ne 0 ]] && grep -q 'needs known_hosts' "$T/nokh.log" || fail "sftp without known_hosts: $(cat "$T/nokh.log")"
ok "an sftp:// upstream without known_hosts is refused"

# A host key that is not the one in known_hosts: refused.
start_prepd wrongkey --upstream "$url" --poll 1 \
	--config <(printf '[ingest]\nknown_hosts = %s\nssh_key = %s\n' "$T/wrong_known_hosts" "$T/client_key")
expect_log 'fetch-failed url=sftp://' "a host key not in known_hosts is refused"
get "http://127.0.0.1:$HTTP_PORT/" >/dev/null
expect_eq "$(header X-PREP-Cut)" "seq=0; label=placeholder" "nothing is pulled from an unknown host"
stop_prepd

# The right host key: pulled and published.
start_prepd sftp --upstream "$url" --poll 1 \
	--config <(printf '[ingest]\nknown_hosts = %s\nssh_key = %s\n' "$T/known_hosts" "$T/client_key")
for ((i = 0; i < 100; i++)); do
	get "http://127.0.0.1:$HTTP_PORT/" >/dev/null
	[[ $(header X-PREP-Cut) == *label=PREP* ]] && break
	sleep 0.1
done
expect_match "$(header X-PREP-Cut)" '^seq=1; label=PREP$' "a package is pulled over SFTP and published"
sleep 3
n=$(ls "$T/sftp/var/history" | wc -l)
expect_eq "$n" 1 "an unchanged file over SFTP is not downloaded again"
cp "$PKGDIR/20240602_2245_PREP_PRES_NAL.zip" "$T/root/.new" && mv "$T/root/.new" "$T/root/PREP.tar.gz"
for ((i = 0; i < 100; i++)); do
	get "http://127.0.0.1:$HTTP_PORT/" >/dev/null
	[[ $(header X-PREP-Cut) == seq=2* ]] && break
	sleep 0.1
done
expect_match "$(header X-PREP-Cut)" '^seq=2; ' "a changed file over SFTP is pulled again"
stop_prepd
done_testing
