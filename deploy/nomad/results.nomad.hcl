# Airlock results service: the only writer of the `executions` bucket, on the
# nodes of class "api". Instances share one durable consumer ("results"), so
# two run side by side and either may stop at any time: unacknowledged events
# are redelivered to the other.
#
# Driver: exec (the static airlock binary from the release tarball, in a
# chroot). The results service opens no port, so it has no HTTP check: a
# deployment is healthy when the task has stayed running for min_healthy_time
# (health_check = "task_states"); the process exits non-zero when it cannot
# reach NATS or set up its streams, bucket or consumer.

variable "release_url" {
  type        = string
  description = "go-getter URL of the release tarball airlock-<version>-linux-amd64.tar.gz (binary and deploy/images), with ?checksum=sha256:<hex> appended so a different file is refused"
}

job "airlock-results" {
  type     = "service"
  priority = 70

  group "results" {
    # Prometheus scrapes /metrics here (service airlock-results-metrics).
    network {
      port "metrics" {}
    }

    service {
      name     = "airlock-results-metrics"
      port     = "metrics"
      provider = "nomad"
      tags     = ["prometheus"]
    }

    count = 2

    constraint {
      attribute = "${node.class}"
      value     = "api"
    }

    constraint {
      operator = "distinct_hosts"
      value    = "true"
    }

    update {
      max_parallel      = 1
      health_check      = "task_states"
      min_healthy_time  = "20s"
      healthy_deadline  = "3m"
      progress_deadline = "10m"
      auto_revert       = true
    }

    restart {
      attempts = 5
      interval = "5m"
      delay    = "10s"
      mode     = "delay"
    }

    task "results" {
      driver = "exec"

      # On SIGTERM the service finishes the event in hand, hands buffered
      # ones back (1s) and drains its NATS connection (up to 10s).
      kill_signal  = "SIGTERM"
      kill_timeout = "20s"

      artifact {
        source      = var.release_url
        destination = "local/"
      }

      config {
        command = "${NOMAD_TASK_DIR}/airlock"
        args    = ["results"]
      }

      # NATS_URL from service discovery, read once at start (see gateway).
      template {
        destination = "secrets/nats.env"
        env         = true
        change_mode = "noop"
        data        = <<-EOF
          NATS_URL={{ range $i, $s := nomadService "nats-client" }}{{ if $i }},{{ end }}tls://{{ .Address }}:{{ .Port }}{{ end }}
        EOF
      }

      # This service's NATS identity (its nkey seed, made by `airlock
      # nats-auth`) and the CA that signed the NATS servers' certificates,
      # from Nomad variables (docs/deploy.md, "NATS identities and TLS").
      # Without them the files hold a line that is neither, so the service
      # refuses to start rather than connect without an identity or trust
      # any server. Read at start (noop): after a rotation, restart the
      # instances one at a time.
      template {
        destination = "secrets/nats.nk"
        perms       = "600"
        change_mode = "noop"
        data        = <<-EOF
          {{- with nomadVar "nomad/jobs/airlock-results" }}{{ .nats_nkey }}{{ else }}the Nomad variable nomad/jobs/airlock-results with item nats_nkey is missing{{ end }}
        EOF
      }

      template {
        destination = "secrets/nats-ca.pem"
        change_mode = "noop"
        data        = <<-EOF
          {{- with nomadVar "nomad/jobs" }}{{ .nats_ca }}{{ else }}the Nomad variable nomad/jobs with item nats_ca is missing{{ end }}
        EOF
      }

      env {
        AIRLOCK_NATS_NKEY      = "${NOMAD_SECRETS_DIR}/nats.nk"
        AIRLOCK_NATS_CA        = "${NOMAD_SECRETS_DIR}/nats-ca.pem"
        AIRLOCK_LOG_FORMAT     = "json"
        AIRLOCK_LOG_LEVEL      = "info"
        AIRLOCK_METRICS_LISTEN = "0.0.0.0:${NOMAD_PORT_metrics}"

        # Topology: the same in every Airlock job. A tenant (API key) may
        # hold a quarter of the queue (AIRLOCK_QUEUE_MAX 10000), so one
        # client cannot fill it for everyone. The fleet-wide cap on running
        # jobs (the executors' consumer's MaxAckPending, which the gateway
        # sets) is at least the autoscaler's max nodes x slots (20 x 6), or
        # added nodes would sit idle.
        AIRLOCK_REPLICAS         = "3"
        AIRLOCK_TENANT_QUEUE_MAX = "2500"
        AIRLOCK_MAX_IN_FLIGHT    = "256"
      }

      resources {
        cpu    = 500
        memory = 512
      }
    }
  }
}
