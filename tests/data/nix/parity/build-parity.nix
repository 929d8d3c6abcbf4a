# Derivations built twice from the same .drv by tests/nix/test_nix_parity_build.py: once by Nix
# 2.8 in its sandbox, once by the harness in runc. Their outputs must have equal NAR hashes and
# equal references. The builder is a static busybox added to the store as …/bin/busybox.
#
# Everything written is deterministic: no dates, no NIX_BUILD_CORES, no NIX_ATTRS_*_FILE (which
# Nix 2.8 points at its host temporary directory), no uid or host name.
{ busybox }:
let
  bb = builtins.path { path = busybox; name = "busybox"; };
  mk = name: script: attrs: derivation ({
    inherit name;
    system = builtins.currentSystem;
    builder = "${bb}/bin/busybox";
    args = [ "sh" "-c" "set -e\n${script}" ];
    PATH = "${bb}/bin";
  } // attrs);
in
rec {
  # a directory with a plain file, an executable, a symlink and an empty directory
  single = mk "single" ''
    busybox mkdir -p $out/bin $out/empty
    echo hello > $out/greeting
    printf '#!/bin/sh\necho hi\n' > $out/bin/hi
    busybox chmod 755 $out/bin/hi
    busybox ln -s greeting $out/link
  '' { };

  # out refers to lib, dev refers to out and lib (Nix forbids cycles between outputs)
  multi = mk "multi" ''
    echo lib-data > $lib
    busybox mkdir -p $out $dev
    echo "$lib" > $out/lib-path
    printf '%s\n%s\n' "$out" "$lib" > $dev/paths
  '' { outputs = [ "out" "lib" "dev" ]; };

  # the output contains its own path, in a file and as a symlink target
  selfRef = mk "self-ref" ''
    busybox mkdir -p $out
    echo "$out" > $out/self
    busybox ln -s $out/self $out/link-to-self
  '' { };

  # refers to busybox (an input source)
  dep = mk "dep" ''
    echo ${bb}/bin/busybox > $out
  '' { };

  # refers to dep's output and to multi's lib output (input derivations), copies a text input
  inputRef = mk "input-ref" ''
    busybox mkdir -p $out
    busybox cat ${dep} > $out/from-dep
    echo ${dep} >> $out/from-dep
    echo ${multi.lib} > $out/lib
    busybox cat ${note} > $out/note
  '' { };
  note = builtins.toFile "note" "a text input\n";

  fodFlat = mk "fod-flat" ''
    printf hello > $out
  '' {
    outputHashMode = "flat";
    outputHashAlgo = "sha256";
    outputHash = "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824";
  };

  fodRecursive = mk "fod-rec" ''
    busybox mkdir -p $out/bin
    printf hello > $out/file
    printf '#!/bin/sh\n' > $out/bin/run
    busybox chmod 755 $out/bin/run
    busybox ln -s file $out/link
  '' {
    outputHashMode = "recursive";
    outputHashAlgo = "sha256";
    outputHash = "5aa92b17d13b741668d2794fd52bf9111d370f7051b2d19684d98693bdae245b";
  };

  # a FOD whose declared hash is wrong: both Nix and the harness must refuse it
  fodWrong = mk "fod-wrong" ''
    printf goodbye > $out
  '' {
    outputHashMode = "flat";
    outputHashAlgo = "sha256";
    outputHash = "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824";
  };

  passAsFile = mk "pass-as-file" ''
    busybox cat $bigPath $otherPath > $out
    echo "$passAsFile" >> $out
  '' {
    passAsFile = [ "big" "other" ];
    big = "line 1\nline 2\n";
    other = "${placeholder "out"} and ${dep}\n";
  };

  # differs on every build: `--check` must name the file that differs
  random = mk "random" ''
    busybox mkdir -p $out
    echo stable > $out/stable
    busybox cat /proc/sys/kernel/random/uuid > $out/random
  '' { };

  # the builder reads .attrs.json / .attrs.sh from /build (the same place in both sandboxes)
  structuredAttrs = derivation {
    name = "structured-attrs-build";
    system = builtins.currentSystem;
    builder = "${bb}/bin/busybox";
    __structuredAttrs = true;
    outputs = [ "out" "dev" ];
    greeting = "hello from structuredAttrs";
    numbers = [ 1 2 3 ];
    nested = { dep = "${dep}"; flag = true; };
    args = [
      "sh"
      "-c"
      ''
        set -e
        export PATH=${bb}/bin
        out=$(busybox sed -n 's/.*"out":"\([^"]*\)".*/\1/p' /build/.attrs.json)
        dev=$(busybox sed -n 's/.*"dev":"\([^"]*\)".*/\1/p' /build/.attrs.json)
        busybox mkdir -p $out $dev
        busybox cp /build/.attrs.json /build/.attrs.sh $out/
        busybox grep greeting /build/.attrs.sh > $dev/greeting
      ''
    ];
  };
}
