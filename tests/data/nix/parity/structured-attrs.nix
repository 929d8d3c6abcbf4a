# A structuredAttrs derivation whose builder copies the files Nix gives it into its outputs.
# Built by tests/nix/test_nix_structured_attrs.py with nix-build (Nix 2.8, sandbox = true), and
# compared byte for byte with what pytest_snixbuild.nix.structured_attrs renders.
{ busybox }:
let
  bb = builtins.path { path = busybox; name = "busybox"; };
in
derivation {
  name = "structured-attrs-parity";
  system = builtins.currentSystem;
  builder = "${bb}/bin/busybox";
  args = [
    "sh"
    "-c"
    ''
      export PATH=${bb}/bin
      o=$(sed -n 's/.*"out":"\([^"]*\)".*/\1/p' /build/.attrs.json)
      d=$(sed -n 's/.*"dev":"\([^"]*\)".*/\1/p' /build/.attrs.json)
      mkdir -p $o $d
      cp /build/.attrs.json /build/.attrs.sh $o/
      env | grep -v '^NIX_ATTRS_\|^PWD=\|^SHLVL=\|^_=' | sort > $o/env
    ''
  ];
  __structuredAttrs = true;
  outputs = [ "out" "dev" ];
  str = "a'b \"c\" \n d\ttab\\";
  empty = "";
  int = 42;
  neg = -3;
  big = 5000000000;
  floats = { half = 1.5; two = 2.0; tenth = 0.1; tiny = 0.00001; small = 0.0001; huge = 1.0e300; mid = 123456789.125; e15 = 1.0e15; e16 = 1.0e16; };
  flt = 2.5;
  whole = 3.0;
  huge = 1.0e300;
  bigf = 3.0e9;
  negf = -2.5e9;
  f32 = 1.00000001;
  f32b = 16777217.5;
  bool = true;
  no = false;
  nul = null;
  list = [ "x" 1 true null false ];
  mixed = [ "x" 1.5 ];
  emptyList = [ ];
  nested = [ [ 1 ] ];
  attrs = { a = "1"; "b c" = 2; "it's" = null; };
  emptyAttrs = { };
  deep = { a = { b = 1; }; };
  "bad-name" = "x";
  "_ok9" = "y";
  "9bad" = "z";
  unicode = "é✓";
  "ünicode" = "key";
  control = "${builtins.fromJSON "\"\\u0001\\u001f\\u007f\""}";
  passAsFile = [ "str" ];
  ph = "${placeholder "out"}/bin:${placeholder "dev"}/lib";
}
