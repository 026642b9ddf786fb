#!/usr/bin/env bash
# Prepare a fresh Debian machine for cinder-multistore: Debian packages the
# embedded cloud needs (Ceph included), a SQL server and RabbitMQ when none
# answers, and a virtualenv with the project (its [test] extra) and its lab
# (lab/: the embedded cloud, demo, benchmark and test runner),
# every package pinned by the release's constraints file, Debian's
# rados/rbd bindings and, for the newest release, tox. Safe to run again;
# each step is skipped when done.
#
#   bash tools/setup.sh                   # newest release, in .venv
#   bash tools/setup.sh --release 2025.1  # that release, in .venvs/2025.1
#
# The newest release is the newest constraints/<release>.txt. CMS_VENV
# moves the newest release's virtualenv, CMS_RELEASE_VENVS the others'.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
python=${PYTHON:-python3}

newest=$(basename "$(ls "$top"/constraints/*.txt | sort -V | tail -1)" .txt)
release=$newest
while [ $# -gt 0 ]; do
    case "$1" in
        --release) release=${2:?--release needs a value}; shift 2 ;;
        --release=*) release=${1#--release=}; shift ;;
        *) echo "usage: $0 [--release RELEASE]" >&2; exit 2 ;;
    esac
done
constraints=$top/constraints/$release.txt
if [ ! -f "$constraints" ]; then
    echo "unknown release $release; supported:" \
        "$(cd "$top/constraints" && ls *.txt | sed 's/\.txt$//' | sort -V | xargs)" >&2
    exit 2
fi
if [ "$release" = "$newest" ]; then
    venv=${CMS_VENV:-$top/.venv}
else
    venv=${CMS_RELEASE_VENVS:-$top/.venvs}/$release
fi

log() { printf '[setup] %s\n' "$*"; }

answers() {  # answers HOST PORT
    (exec 3<>"/dev/tcp/$1/$2") 2>/dev/null
}

apt_updated=
apt_install() {
    local missing=()
    for pkg in "$@"; do
        dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'ok installed' \
            || missing+=("$pkg")
    done
    [ ${#missing[@]} -eq 0 ] && return 0
    if [ -z "$apt_updated" ]; then
        log "apt-get update"
        DEBIAN_FRONTEND=noninteractive apt-get update -qq
        apt_updated=1
    fi
    log "apt-get install ${missing[*]}"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
        "${missing[@]}" >/dev/null
}

# mount.nfs (os-brick checks for it), qemu-img (Cinder's image conversion).
apt_install nfs-common qemu-utils
# The two Ceph clusters of the stack (sites central and edge) and the
# rados/rbd Python bindings that glance_store and Cinder's RBD driver load.
# Nothing starts by itself: the stack runs the daemons.
apt_install ceph-mon ceph-osd ceph-mgr ceph-common python3-rados python3-rbd

if ! answers 127.0.0.1 3306 && ! answers 127.0.0.1 5432; then
    log "no SQL server answers: installing MariaDB"
    apt_install mariadb-server
    start-stop-daemon --start --oknodo --background --exec /usr/sbin/mariadbd
    for _ in $(seq 60); do answers 127.0.0.1 3306 && break; sleep 1; done
fi
if ! answers 127.0.0.1 5672; then
    log "RabbitMQ does not answer: installing and starting it"
    apt_install rabbitmq-server
    rabbitmq-server -detached || true
    for _ in $(seq 90); do answers 127.0.0.1 5672 && break; sleep 1; done
fi

if [ ! -x "$venv/bin/python" ]; then
    log "creating $venv"
    mkdir -p "$(dirname "$venv")"
    "$python" -m venv "$venv"
fi
stamp="$venv/.cms-installed"
want=$(cat "$top/setup.cfg" "$top/requirements.txt" "$top/lab/setup.cfg" \
       "$top/lab/requirements.txt" "$constraints" \
       | sha1sum | cut -c1-12)
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
    log "installing release $release into $venv (a few minutes the first" \
        "time; pip's cache keeps the wheels for the next one)"
    "$venv/bin/pip" install -q -U pip wheel
    "$venv/bin/pip" install -q -c "$constraints" -e "$top[test]" -e "$top/lab"
    echo "$want" > "$stamp"
else
    # NOTE: -qq: building the two editable packages prints setuptools'
    # notices about editable installs, nothing this step can act on;
    # errors are still shown.
    "$venv/bin/pip" install -qq --no-deps -e "$top" -e "$top/lab" >/dev/null
fi

# tox runs the environments of tox.ini (which pin the newest release's
# constraints): the newest release's virtualenv gets it, pinned here so
# that no constraints file changes; the packages tox needs that a
# constraints file pins keep their pinned versions.
tox_version=4.67.17
if [ "$release" = "$newest" ] \
        && [ "$("$venv/bin/tox" --version 2>/dev/null | cut -d' ' -f1)" \
             != "$tox_version" ]; then
    log "installing tox $tox_version into $venv"
    "$venv/bin/pip" install -q -c "$constraints" "tox==$tox_version"
fi

# Debian builds the rados/rbd bindings for its own python3 only; a venv of
# the same minor version loads them through symlinks.
read -r site suffix < <("$venv/bin/python" -c 'import sysconfig
print(sysconfig.get_path("purelib"), sysconfig.get_config_var("EXT_SUFFIX"))')
for module in rados rbd; do
    so=/usr/lib/python3/dist-packages/$module$suffix
    if [ ! -e "$so" ]; then
        log "warning: $so is missing"
    elif [ "$(readlink "$site/$module$suffix" 2>/dev/null)" != "$so" ]; then
        log "linking $so into $site"
        ln -sfn "$so" "$site/$module$suffix"
    fi
done
if ! "$venv/bin/python" -c 'import rados, rbd' 2>/dev/null; then
    log "warning: $venv cannot import rados/rbd (python minor version differs" \
        "from Debian's python3?): the Ceph clusters of the stack will not work"
fi
log "ready: $venv"
