# The Nomad Autoscaler, running the cluster scaling policy of
# executor-nodes.policy.hcl (next to this file; `nomad job run` reads it with
# file(), relative to this file's directory) against the executor nodes' EC2
# Auto Scaling Group.
#
# Driver: exec with the official release binary (no Docker on api nodes).
# Host networking gives it the instance profile's AWS credentials (IMDS) for
# the aws-asg target. It reaches Nomad through the Task API socket
# (${NOMAD_SECRETS_DIR}/api.sock) with its workload identity (NOMAD_TOKEN);
# with ACLs enabled, attach acl.hcl to this job (docs/deploy.md, step 9).
# Prometheus is found through Nomad service discovery (service "prometheus").

variable "autoscaler_version" {
  type    = string
  default = "0.4.7"
}

variable "aws_region" {
  type        = string
  description = "region of the executor Auto Scaling Group"
}

job "nomad-autoscaler" {
  type     = "service"
  priority = 75

  group "autoscaler" {
    # One agent: it is not on the path of any job (the queue just grows while
    # it is away), and two would act twice.
    count = 1

    constraint {
      attribute = "${node.class}"
      value     = "api"
    }

    network {
      port "http" {}
    }

    update {
      max_parallel      = 1
      health_check      = "checks"
      min_healthy_time  = "10s"
      healthy_deadline  = "3m"
      progress_deadline = "10m"
      auto_revert       = true
    }

    service {
      name     = "nomad-autoscaler"
      provider = "nomad"
      port     = "http"

      check {
        name     = "health"
        type     = "http"
        path     = "/v1/health"
        interval = "10s"
        timeout  = "2s"
      }
    }

    task "autoscaler" {
      driver = "exec"

      # A scale-in waits for the node drain; SIGINT lets the agent stop
      # cleanly.
      kill_signal  = "SIGINT"
      kill_timeout = "30s"

      artifact {
        source      = "https://releases.hashicorp.com/nomad-autoscaler/${var.autoscaler_version}/nomad-autoscaler_${var.autoscaler_version}_linux_amd64.zip"
        destination = "local/"
      }

      identity {
        env = true
      }

      config {
        command = "${NOMAD_TASK_DIR}/nomad-autoscaler"
        args    = ["agent", "-config", "${NOMAD_TASK_DIR}/config.hcl"]
      }

      template {
        destination = "local/config.hcl"
        data        = <<-EOF
          log_level = "info"
          log_json  = true

          http {
            bind_address = "0.0.0.0"
            bind_port    = {{ env "NOMAD_PORT_http" }}
          }

          nomad {
            address = "unix://{{ env "NOMAD_SECRETS_DIR" }}/api.sock"
          }

          policy {
            dir = "{{ env "NOMAD_TASK_DIR" }}/policies"
          }

          # Evaluations of a cluster policy wait for node drains.
          policy_eval {
            ack_timeout = "15m"
          }

          apm "prometheus" {
            driver = "prometheus"
            config = {
              address = "{{ with nomadService "prometheus" }}{{ with index . 0 }}http://{{ .Address }}:{{ .Port }}{{ end }}{{ end }}"
            }
          }

          target "aws-asg" {
            driver = "aws-asg"
            config = {
              aws_region = "${var.aws_region}"
            }
          }

          strategy "pass-through" {
            driver = "pass-through"
          }
        EOF
      }

      template {
        destination = "local/policies/executor-nodes.hcl"
        data        = file("executor-nodes.policy.hcl")
      }

      resources {
        cpu    = 200
        memory = 256
      }
    }
  }
}
