# ACL policy for the nomad-autoscaler job's workload identity (only needed
# when Nomad ACLs are enabled):
#
#   nomad acl policy apply -namespace default -job nomad-autoscaler \
#     nomad-autoscaler deploy/nomad/autoscaler/acl.hcl
#
# Cluster scaling reads and drains nodes, and purges terminated ones; the
# Nomad policy source reads scaling policies.

namespace "default" {
  policy = "scale"
}

node {
  policy = "write"
}
