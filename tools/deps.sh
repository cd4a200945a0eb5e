#!/bin/sh
# deps.sh -- make sure the Debian packages infersim builds against are here.
#   deps.sh install   install them (root), or print the exact command
#   deps.sh ensure    do nothing when all are present, else as 'install'
set -eu
PACKAGES="build-essential pkg-config libevent-dev libsqlite3-dev sqlite3 libyaml-dev \
libcurl4-openssl-dev check libsodium-dev gnuplot-nox"
PKGCONFIG_MODULES="libevent sqlite3 yaml-0.1 libcurl check libsodium"

present() {
    command -v pkg-config >/dev/null 2>&1 || return 1
    command -v cc >/dev/null 2>&1 || return 1
    pkg-config --exists $PKGCONFIG_MODULES || return 1
    command -v gnuplot >/dev/null 2>&1 || return 1
    return 0
}

install_packages() {
    if [ "$(id -u)" -ne 0 ]; then
        echo "infersim: missing build dependencies. Install them with:" >&2
        echo "  sudo apt-get update && sudo apt-get install -y $PACKAGES" >&2
        exit 1
    fi
    echo "infersim: installing Debian packages: $PACKAGES" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -q >&2
    # shellcheck disable=SC2086
    apt-get install -y -q --no-install-recommends $PACKAGES >&2
}

case "${1:-ensure}" in
    install) install_packages ;;
    ensure) present || install_packages ;;
    *) echo "usage: deps.sh install|ensure" >&2; exit 2 ;;
esac
