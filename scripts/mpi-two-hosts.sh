#!/usr/bin/env bash
# Runs an `alexnet` command as a 2-process MPI job over TCP between two "hosts" on this machine:
# two network namespaces joined by a veth pair, with an ssh-less launch agent (this script)
# that starts each host's MPI daemon inside its namespace. Needs root (ip netns). Traffic goes
# only over the veth pair; the namespaces are removed on exit, whatever happens.
#
#   scripts/mpi-two-hosts.sh [--threads N] ALEXNET [ARGUMENTS...]
#   e.g. scripts/mpi-two-hosts.sh .build/release/alexnet bench --model paper-1gpu --batch 128
#
# --threads N (default 1) is passed to alexnet: each namespace looks like a host of its own, so
# without it both processes would take every core.
set -euo pipefail

# As the launch agent: mpirun calls `AGENT HOST COMMAND...`; run COMMAND in HOST's namespace.
if [[ "${1:-}" == "--agent" ]]; then
  host=$2; shift 2
  for entry in $ALEXNET_NETNS_HOSTS; do
    if [[ "${entry%%=*}" == "$host" ]]; then exec ip netns exec "${entry#*=}" /bin/sh -c "$*"; fi
  done
  echo "mpi-two-hosts: no namespace for host $host" >&2
  exit 1
fi

threads=1
if [[ "${1:-}" == "--threads" ]]; then threads=$2; shift 2; fi
if (($# < 1)); then sed -n '2,11p' "$0" >&2; exit 64; fi
executable=$(readlink -f "$1"); shift
self=$(readlink -f "$0")

# Names and a /24 of our own for this run (the process id keeps parallel runs apart).
tag=$(( $$ % 60000 ))
a="alexnet-a-$tag" b="alexnet-b-$tag"
subnet_octet=$(( 16 + $$ % 200 ))
address_a="10.$subnet_octet.77.1" address_b="10.$subnet_octet.77.2" subnet="10.$subnet_octet.77.0/24"

cleanup() { ip netns del "$a" 2>/dev/null || true; ip netns del "$b" 2>/dev/null || true; }
trap cleanup EXIT
ip netns add "$a"
ip netns add "$b"
ip link add "anv$tag" type veth peer name "bnv$tag"
ip link set "anv$tag" netns "$a"
ip link set "bnv$tag" netns "$b"
ip -n "$a" addr add "$address_a/24" dev "anv$tag"
ip -n "$b" addr add "$address_b/24" dev "bnv$tag"
for ns in "$a" "$b"; do ip -n "$ns" link set lo up; done
ip -n "$a" link set "anv$tag" up
ip -n "$b" link set "bnv$tag" up

export ALEXNET_NETNS_HOSTS="$address_a=$a $address_b=$b"
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
# mpirun runs in the first host's namespace; rank 0 there, rank 1 through the agent.
ip netns exec "$a" mpirun -np 2 --host "$address_a:1,$address_b:1" --bind-to none \
  --mca plm_rsh_agent "$self --agent" \
  --mca btl tcp,self --mca btl_tcp_if_include "$subnet" --mca oob_tcp_if_include "$subnet" \
  -x OMPI_ALLOW_RUN_AS_ROOT -x OMPI_ALLOW_RUN_AS_ROOT_CONFIRM \
  "$executable" "$@" --threads "$threads"
