# Nomad Autoscaler cluster scaling policy: the number of executor nodes, i.e.
# the desired capacity of their EC2 Auto Scaling Group, follows queue depth.
# (A `system` job cannot carry a scaling block; the node group is scaled
# instead, and the system job follows the nodes.)
#
# Desired nodes = ceil((pending + in-flight jobs) / slots per node), through
# the pass-through strategy (the query's value is the new count), clamped to
# [min, max]. The metrics (Prometheus, scraped from the Airlock services'
# /metrics):
#   airlock_queue_pending    gauge: jobs in JOBS not yet delivered to an
#                            executor (the shared consumer's NumPending)
#   airlock_queue_in_flight  gauge: jobs delivered and not yet acknowledged
#                            (the consumer's NumAckPending)
#   airlock_executor_slots   gauge: AIRLOCK_SLOTS of each executor
# Both queue gauges come from the consumer info and are the same whichever
# instance reports them, hence max() rather than sum(). With no executor
# reporting yet, the slots default to 6 (the executor job's `slots`).
#
# Scale-in drains the chosen node first: its executor gets SIGTERM, finishes
# running jobs within AIRLOCK_SHUTDOWN_TIMEOUT (60s) and hands the rest back
# to JetStream; node_drain_deadline leaves room for that and kill_timeout.
#
# Loaded by the autoscaler job (autoscaler.nomad.hcl) from this file.

scaling "airlock_executor_nodes" {
  enabled = true
  min     = 1
  max     = 20

  policy {
    cooldown            = "5m"
    evaluation_interval = "30s"
    on_check_error      = "fail"

    check "queue_depth" {
      source = "prometheus"
      query  = "ceil(((max(airlock_queue_pending) or vector(0)) + (max(airlock_queue_in_flight) or vector(0))) / clamp_min(avg(airlock_executor_slots) or vector(6), 1))"

      strategy "pass-through" {}
    }

    target "aws-asg" {
      dry-run                       = "false"
      aws_asg_name                  = "airlock-executor"
      node_class                    = "executor"
      node_selector_strategy        = "least_busy"
      node_drain_deadline           = "5m"
      node_drain_ignore_system_jobs = "false"
      node_purge                    = "true"
    }
  }
}
