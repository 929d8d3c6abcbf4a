:build"build"	nix/store*	nix/store2.nix/store/pp17lwra2jkx8rha15qabg2q3wij72lj-foo:
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
TMPDIR/build:L
barPathA/build/.attr-1fcgpy7vc4ammr7s17j2xq88scswkgz23dqzc04g8sx5vcp2pppw:L
bazPathA/build/.attr-15l04iksj1280dvhbzdq9ai3wlf8ac2188m9qv0gn81k9nba19ds:
builder::
namefoo:6
out//nix/store/pp17lwra2jkx8rha15qabg2q3wij72lj-foo:

passAsFilebar baz:
system:B
:(JG
@build/.attr-15l04iksj1280dvhbzdq9ai3wlf8ac2188m9qv0gn81k9nba19dsbarJG
@build/.attr-1fcgpy7vc4ammr7s17j2xq88scswkgz23dqzc04g8sx5vcp2pppwbazR pp17lwra2jkx8rha15qabg2q3wij72lj