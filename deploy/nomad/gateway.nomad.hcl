# Airlock gateway: the HTTP API, on the nodes of class "api".
#
# Driver: exec. The airlock binary is static (CGO_ENABLED=0) and comes from
# the release tarball (docs/deploy.md, "Build a release"); exec runs it in a
# chroot with Nomad's cgroup limits, with no container image or registry.
#
# Port 8080 is static so that the load balancer's target group can point at
# the api nodes; distinct_hosts keeps the two gateways on two hosts.

variable "release_url" {
  type        = string
  description = "go-getter URL of the release tarball airlock-<version>-linux-amd64.tar.gz (binary and deploy/images), with ?checksum=sha256:<hex> appended so a different file is refused"
}

job "airlock-gateway" {
  type     = "service"
  priority = 70

  group "gateway" {
    count = 2

    constraint {
      attribute = "${node.class}"
      value     = "api"
    }

    constraint {
      operator = "distinct_hosts"
      value    = "true"
    }

    network {
      port "http" {
        static = 8080
      }
    }

    # One instance at a time; the new one must pass /healthz for
    # min_healthy_time before the next is replaced; a failed rollout goes
    # back to the last good version.
    update {
      max_parallel      = 1
      health_check      = "checks"
      min_healthy_time  = "15s"
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

    service {
      name     = "airlock-gateway"
      provider = "nomad"
      port     = "http"

      # Liveness: gates deployments and restarts a hung process.
      check {
        name     = "healthz"
        type     = "http"
        path     = "/healthz"
        interval = "10s"
        timeout  = "2s"

        check_restart {
          limit = 3
          grace = "30s"
        }
      }

      # Readiness: NATS, streams, bucket and at least one live executor. It
      # is for the load balancer and the operator, and does not gate
      # deployments (on_update = "ignore"): the gateway is deployed before
      # the first executor exists (docs/deploy.md, step 7).
      check {
        name      = "readyz"
        type      = "http"
        path      = "/readyz"
        interval  = "10s"
        timeout   = "3s"
        on_update = "ignore"
      }
    }

    task "gateway" {
      driver = "exec"

      # The gateway finishes in-flight requests for up to 30s (its shutdown
      # timeout) and then drains its NATS connection (up to 10s).
      kill_signal    = "SIGTERM"
      kill_timeout   = "45s"
      shutdown_delay = "5s"

      artifact {
        source      = var.release_url
        destination = "local/"
      }

      config {
        command = "${NOMAD_TASK_DIR}/airlock"
        args    = ["gateway"]
      }

      # NATS_URL from service discovery: every registered NATS server. Read
      # once at start (change_mode = "noop"): after connecting, the client
      # learns the cluster's servers from the servers themselves, so a NATS
      # rolling update must not restart the gateways.
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
          {{- with nomadVar "nomad/jobs/airlock-gateway" }}{{ .nats_nkey }}{{ else }}the Nomad variable nomad/jobs/airlock-gateway with item nats_nkey is missing{{ end }}
        EOF
      }

      template {
        destination = "secrets/nats-ca.pem"
        change_mode = "noop"
        data        = <<-EOF
          {{- with nomadVar "nomad/jobs" }}{{ .nats_ca }}{{ else }}the Nomad variable nomad/jobs with item nats_ca is missing{{ end }}
        EOF
      }

      # API keys ("tenant:key" per line) from the Nomad variable
      # nomad/jobs/airlock-gateway, item api_keys (docs/deploy.md, step 7).
      # Without it the file holds a line that is not a key, so the gateway
      # refuses to start instead of serving anonymously. Keys are read at
      # start: after changing them, restart the gateways one at a time
      # (change_mode = "noop" keeps Nomad from restarting both at once).
      template {
        destination = "secrets/api-keys"
        change_mode = "noop"
        data        = <<-EOF
          {{- with nomadVar "nomad/jobs/airlock-gateway" }}{{ .api_keys }}{{ else }}
          the Nomad variable nomad/jobs/airlock-gateway with item api_keys is missing
          {{ end }}
        EOF
      }

      # AIRLOCK_ALLOWED_HOSTS: clients reach the gateways through the load
      # balancer's name and Nomad's checks by node address, so any Host is
      # answered; the API keys (always set here) keep other web pages out.
      env {
        AIRLOCK_API_KEYS_FILE = "${NOMAD_SECRETS_DIR}/api-keys"
        AIRLOCK_LISTEN        = "0.0.0.0:${NOMAD_PORT_http}"
        AIRLOCK_ALLOWED_HOSTS = "*"
        AIRLOCK_NATS_NKEY     = "${NOMAD_SECRETS_DIR}/nats.nk"
        AIRLOCK_NATS_CA       = "${NOMAD_SECRETS_DIR}/nats-ca.pem"
        AIRLOCK_LOG_FORMAT    = "json"
        AIRLOCK_LOG_LEVEL     = "info"

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
        cpu    = 1000
        memory = 1024
      }
    }
  }
}
