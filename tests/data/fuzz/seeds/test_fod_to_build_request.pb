:build"build"	nix/store*	nix/store2.nix/store/4q0pg5zpfmznxscq3avycvf9xdvx50n3-bar:
HOME/homeless-shelter:
NIX_BUILD_CORES0:
NIX_BUILD_TOP/build:

NIX_LOG_FD2:
	NIX_STORE
/nix/store:
PATH/path-not-set:
PWD/build:
TEMP/build:
TEMPDIR/build:
TERMxterm-256color:
TMP/build:
TMPDIR/build:
builder::
namebar:6
out//nix/store/4q0pg5zpfmznxscq3avycvf9xdvx50n3-bar:N

outputHash@08813cbee9903c62be4c5027726a418a300da4500b2d369d3af9286f4815ceba:
outputHashAlgosha256:
outputHashMode	recursive:
system:B
: (R 4q0pg5zpfmznxscq3avycvf9xdvx50n3