# The derivations of the TOML cases in this directory. Their .drv files, their input sources and
# the (hand-written) output of `dep` are kept in ./store, a directory of store paths, so that the
# cases need neither Nix nor /nix/store. tests/nix/test_nix_toml_section.py checks that
# nix-instantiate still gives exactly these files.
#
# The builder is /bin/sh, which the harness's sandbox provides (Nix's does not): these
# derivations are for the harness only. tests/data/nix/parity/build-parity.nix is built by both.
let
  mk = name: script: attrs: derivation ({
    inherit name;
    system = "x86_64-linux";
    builder = "/bin/sh";
    args = [ "-c" script ];
  } // attrs);
  note = builtins.toFile "note" "a text input\n";
in
rec {
  dep = mk "dep" "echo dep-output > $out" { };

  # two outputs: out refers to itself, to dep and to the note; dev refers to out
  hello = mk "hello" ''
    mkdir $out
    cat ${dep} ${note} > $out/inputs
    echo ${dep} ${note} >> $out/inputs
    echo $out > $out/self
    echo $out > $dev
  '' { outputs = [ "out" "dev" ]; };

  # differs on every build: for `drv build --check`
  random = mk "random" ''
    mkdir $out
    echo stable > $out/stable
    cat /proc/sys/kernel/random/uuid > $out/random
  '' { };

  fod = mk "fod" "printf hello > $out" {
    outputHashMode = "flat";
    outputHashAlgo = "sha256";
    outputHash = "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824";
  };

  fodWrong = mk "fod-wrong" "printf goodbye > $out" {
    outputHashMode = "flat";
    outputHashAlgo = "sha256";
    outputHash = "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824";
  };
}
