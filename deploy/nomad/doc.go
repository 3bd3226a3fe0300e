// Package nomad holds the tests of Airlock's Nomad job files (the *.nomad.hcl
// files in this directory and in autoscaler/). It is a module of its own so
// that the services never depend on Nomad.
//
// The tests parse every job file with Nomad's own HCL2 job parser (jobspec2)
// and check what the parser leaves to the servers or to nobody: job types,
// drivers, the executor's access to the Docker engine, counts, constraints,
// update blocks, health checks, kill timeouts, that every environment
// variable a service reads (cmd/airlock/config.go) is set or deliberately
// left at its default, the autoscaling policy, and that docs/deploy.md
// states what the files say.
package nomad
