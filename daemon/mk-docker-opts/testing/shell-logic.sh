#!/bin/sh
# Test oracle, written for weft's tests: the logic of flannel's dist/mk-docker-opts.sh as we read it
# (same getopts letters, the subnet file sourced by the shell, options enumerated with `set | grep`
# and expanded with eval, the combined value built by appending " $value", the `ip route show`
# check), run by a real shell so the mk-docker-opts role can be compared with it byte for byte.
src=/run/flannel/subnet.env
out=/run/docker_opts.env
key=DOCKER_OPTS
each=no
joined=no
masq=yes

while getopts "f:d:icmk:?h" flag; do
	case $flag in
	f) src=$OPTARG ;;
	d) out=$OPTARG ;;
	i) each=yes ;;
	c) joined=yes ;;
	m) masq=no ;;
	k) key=$OPTARG ;;
	*) echo "usage" >&2; exit 1 ;;
	esac
done
if [ $each = no ] && [ $joined = no ]; then each=yes; joined=yes; fi

[ -f "$src" ] && . "$src"

[ -n "$FLANNEL_SUBNET" ] && DOCKER_OPT_BIP="--bip=$FLANNEL_SUBNET"
[ -n "$FLANNEL_MTU" ] && DOCKER_OPT_MTU="--mtu=$FLANNEL_MTU"
if [ -n "$FLANNEL_IPMASQ" ] && [ $masq = yes ]; then
	case $FLANNEL_IPMASQ in
	true) DOCKER_OPT_IPMASQ="--ip-masq=false" ;;
	false) DOCKER_OPT_IPMASQ="--ip-masq=true" ;;
	*) echo "Invalid value of FLANNEL_IPMASQ: $FLANNEL_IPMASQ" >&2; exit 1 ;;
	esac
fi

eval all="\$$key"
[ -n "$all" ] && all="$all "
: >"$out"
for entry in $(set | grep DOCKER_OPT_); do
	name=${entry%%=*}
	value=$(eval echo "\$$name")
	[ $each = yes ] && echo "$name=\"$value\"" >>"$out"
	all="$all $value"
done
[ $joined = yes ] && echo "$key=\"$all\"" >>"$out"

if [ -n "$FLANNEL_SUBNET" ]; then
	last=$(echo "$FLANNEL_SUBNET" | cut -d. -f4 | cut -d/ -f1)
	lease="$(echo "$FLANNEL_SUBNET" | cut -d. -f1,2,3).$((last - 1))/$(echo "$FLANNEL_SUBNET" | cut -d/ -f2)"
	stale=$(ip route show | grep "$lease" | grep via)
	if [ -n "$stale" ]; then
		echo "Your routing table already contains the subnet: $stale" >&2
		exit 1
	fi
fi
exit 0
