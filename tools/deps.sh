#!/bin/sh
# deps.sh -- make sure the Debian packages infersim builds against are here.
#   deps.sh install   install them (root), or print the exact command
#   deps.sh ensure    do nothing when all are present, else as 'install'
#   deps.sh fuzz      as 'ensure', plus clang and libFuzzer for make fuzz
#                     (FUZZ_CC, default clang-14, must link -fsanitize=fuzzer)
#   deps.sh browser   as 'ensure', plus headless Chromium, with which the
#                     report test checks a report's layout (skipped without)
set -eu
PACKAGES="build-essential pkg-config libevent-dev libsqlite3-dev sqlite3 libyaml-dev \
libcurl4-openssl-dev check libsodium-dev gnuplot-nox iproute2 git"
FUZZ_PACKAGES="clang-14 libclang-rt-14-dev"
PKGCONFIG_MODULES="libevent sqlite3 yaml-0.1 libcurl check libsodium"

present() {
    command -v pkg-config >/dev/null 2>&1 || return 1
    command -v cc >/dev/null 2>&1 || return 1
    pkg-config --exists $PKGCONFIG_MODULES || return 1
    command -v gnuplot >/dev/null 2>&1 || return 1
    # git: the revision a build names, and whether the checkout differs from it
    command -v git >/dev/null 2>&1 || return 1
    # iproute2's ip: the hosts suite's network namespaces (testbed --netns)
    command -v ip >/dev/null 2>&1 || [ -x /usr/sbin/ip ] || [ -x /sbin/ip ] || return 1
    return 0
}

# Whether FUZZ_CC links a libFuzzer target with the sanitizers.
fuzz_present() {
    cc=${FUZZ_CC:-clang-14}
    command -v "$cc" >/dev/null 2>&1 || return 1
    probe=$(mktemp -d) || return 1
    printf '%s\n' '#include <stddef.h>' '#include <stdint.h>' \
        'int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n);' \
        'int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n) { (void)d; return (int)(n & 0); }' \
        > "$probe/probe.c"
    "$cc" -fsanitize=fuzzer,address,undefined "$probe/probe.c" -o "$probe/probe" \
        >/dev/null 2>&1
    rc=$?
    rm -rf "$probe"
    return $rc
}

install_packages() {
    PACKAGES="$PACKAGES ${1:-}"
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
    fuzz) { present && fuzz_present; } || install_packages "$FUZZ_PACKAGES"
          fuzz_present || { echo "infersim: ${FUZZ_CC:-clang-14} cannot build libFuzzer" \
              "targets (set FUZZ_CC to a clang with libFuzzer)" >&2; exit 1; } ;;
    browser) { present && command -v chromium >/dev/null 2>&1; } ||
             install_packages "chromium" ;;
    *) echo "usage: deps.sh install|ensure|fuzz|browser" >&2; exit 2 ;;
esac
