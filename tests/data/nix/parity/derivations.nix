# Small derivations instantiated (and some built) by tests/nix/test_nix_instantiate_parity.py
# with Nix 2.8: their .drv files must round-trip through our ATerm code, and our drv paths,
# output paths and `nix show-derivation` JSON must equal Nix's.
{ busybox }:
let
  bb = builtins.path { path = busybox; name = "busybox"; };
  sh = "${bb}/bin/busybox";
  mk = attrs: derivation ({ system = builtins.currentSystem; builder = sh; } // attrs);
in
rec {
  toFile = builtins.toFile "foo" "bar";

  single = mk { name = "single"; args = [ "sh" "-c" "echo hi > $out" ]; };

  multi = mk {
    name = "multi";
    outputs = [ "out" "lib" "dev" ];
    args = [ "sh" "-c" "echo $lib > $out; echo lib > $lib; echo $out > $dev" ];
  };

  # references busybox in its output, so busybox is in its runtime closure
  dep = mk { name = "dep"; args = [ "sh" "-c" "echo ${bb} > $out" ]; };

  user = mk {
    name = "user";
    args = [ "sh" "-c" "cat ${dep} > $out; cat ${multi.lib} >> $out" ];
    note = builtins.toFile "note" "hello";
    weird = "tab\there \"quoted\" back\\slash\nnewline ü";
  };

  fodFlat = mk {
    name = "fod-flat";
    args = [ "sh" "-c" "printf hello > $out" ];
    outputHashMode = "flat";
    outputHashAlgo = "sha256";
    outputHash = "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824";
  };

  fodRecursive = mk {
    name = "fod-rec";
    args = [ "sh" "-c" "printf hello > $out" ];
    outputHashMode = "recursive";
    outputHash = "sha256-0tWJs7WgkfrNeLmy4SsVT/0jMtQLdbdbl4mgMPoKOaw=";
  };

  fodSha1 = mk {
    name = "fod-sha1";
    args = [ "sh" "-c" "printf hello > $out" ];
    outputHashMode = "recursive";
    outputHashAlgo = "sha1";
    outputHash = "0000000000000000000000000000000000000000";
  };

  usesFod = mk { name = "uses-fod"; args = [ "sh" "-c" "cat ${fodFlat} > $out" ]; };

  passAsFile = mk {
    name = "pass-as-file";
    passAsFile = [ "big" "other" ];
    big = "line 1\nline 2";
    other = "${placeholder "out"}";
    args = [ "sh" "-c" "cat $bigPath $otherPath > $out" ];
  };
}
