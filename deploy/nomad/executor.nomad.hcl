# Airlock executor: one per node of class "executor" (a system job), running
# every job in fresh sandbox containers on the node's own Docker engine.
#
# Driver: raw_exec, i.e. the airlock binary runs directly on the host:
#   * it talks to the host's Docker engine through /var/run/docker.sock
#     (DOCKER_HOST below); the socket is never mounted anywhere, and the
#     sandboxes it creates get only their init binary (docs/sandbox.md);
#   * it bind-mounts its own static binary into every sandbox as the init,
#     and the engine resolves that bind source on the HOST. With raw_exec,
#     ${NOMAD_TASK_DIR}/airlock is a real host path (under the Nomad client's
#     data_dir), so AIRLOCK_INIT_PATH below is exactly the binary that runs.
#     Under the docker or exec driver the executor would see a path inside
#     its own container or chroot that does not exist on the host;
#   * it reads each sandbox's cgroup (CPU time, peak memory, OOM kills) from
#     the host's /sys/fs/cgroup.
# raw_exec must be enabled on executor nodes only (docs/deploy.md, step 3).
#
# Resources: Nomad does not see the sandbox containers (they are children of
# dockerd, not of this task), so the executor task reserves them: for each of
# its `slots` one CPU core (each sandbox gets NanoCPUs = 1 core) and
# slot_memory_mb (the largest memory limit a job may ask for, 2048 MB, plus
# room for the gVisor sentry and the shim), plus 512 MB for the executor.
# The client's `reserved` block covers the OS, dockerd, containerd and Nomad.
#
# Images: the prestart task "images" makes sure every language image is
# present and current before the executor starts taking jobs (it detects its
# languages from the images at start).

variable "release_url" {
  type        = string
  description = "go-getter URL of the release tarball airlock-<version>-linux-amd64.tar.gz (binary and deploy/images), with ?checksum=sha256:<hex> appended so a different file is refused"
}

variable "images_url" {
  type        = string
  default     = ""
  description = "go-getter URL of airlock-images-<version>.tar.gz (docker save of the release's images); empty: build them on the node"
}

variable "slots" {
  type        = number
  default     = 6
  description = "jobs one node runs at once (AIRLOCK_SLOTS); at most the node's cores minus those for dockerd and the OS"
}

variable "slot_cpu_mhz" {
  type        = number
  default     = 2500
  description = "CPU reserved per slot, in MHz (about one core of the instance type)"
}

variable "slot_memory_mb" {
  type        = number
  default     = 2304
  description = "memory reserved per slot: the catalog's largest memory limit (2048) plus sandbox runtime overhead"
}

job "airlock-executor" {
  type     = "system"
  priority = 70

  constraint {
    attribute = "${node.class}"
    value     = "executor"
  }

  group "executor" {
    # Prometheus scrapes /metrics here (service airlock-executor-metrics).
    network {
      port "metrics" {}
    }

    service {
      name     = "airlock-executor-metrics"
      port     = "metrics"
      provider = "nomad"
      tags     = ["prometheus"]
    }

    # One node at a time: the old executor drains (up to
    # AIRLOCK_SHUTDOWN_TIMEOUT), then the new one prepares images and starts.
    # The deadlines allow for building every image on a node (no images_url).
    update {
      max_parallel      = 1
      health_check      = "task_states"
      min_healthy_time  = "30s"
      healthy_deadline  = "45m"
      progress_deadline = "60m"
      auto_revert       = true
    }

    restart {
      attempts = 5
      interval = "15m"
      delay    = "15s"
      mode     = "delay"
    }

    # Prestart: load the release's image tarball (if any), then run
    # deploy/images/build.sh from the same release, which builds whatever is
    # missing or out of date (content hash per image) and skips the rest.
    task "images" {
      driver = "raw_exec"

      lifecycle {
        hook    = "prestart"
        sidecar = false
      }

      artifact {
        source      = var.release_url
        destination = "local/"
      }

      dynamic "artifact" {
        for_each = var.images_url == "" ? [] : [var.images_url]
        content {
          source      = artifact.value
          destination = "local/images/airlock-images.tar.gz"
          mode        = "file"

          options {
            archive = "false"
          }
        }
      }

      template {
        destination = "local/prepare-images.sh"
        perms       = "0755"
        data        = <<-EOF
          #!/usr/bin/env bash
          set -euo pipefail
          cd "$NOMAD_TASK_DIR"
          if [ -f images/airlock-images.tar.gz ]; then
            echo "loading images/airlock-images.tar.gz"
            docker load -i images/airlock-images.tar.gz
          fi
          exec bash deploy/images/build.sh
        EOF
      }

      config {
        command = "/bin/bash"
        args    = ["${NOMAD_TASK_DIR}/prepare-images.sh"]
      }

      env {
        DOCKER_HOST = "unix:///var/run/docker.sock"
        # build.sh serializes builds on one host with a lock in $TMPDIR.
        TMPDIR = "/tmp"
      }

      resources {
        cpu    = 500
        memory = 512
      }
    }

    task "executor" {
      driver = "raw_exec"

      # SIGTERM: stop fetching, let running jobs finish for
      # AIRLOCK_SHUTDOWN_TIMEOUT (60s), hand the rest back to JetStream, then
      # drain NATS (up to 10s) and delete the heartbeat (up to 5s).
      kill_signal  = "SIGTERM"
      kill_timeout = "90s"

      artifact {
        source      = var.release_url
        destination = "local/"
      }

      config {
        command = "${NOMAD_TASK_DIR}/airlock"
        args    = ["executor"]
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
          {{- with nomadVar "nomad/jobs/airlock-executor" }}{{ .nats_nkey }}{{ else }}the Nomad variable nomad/jobs/airlock-executor with item nats_nkey is missing{{ end }}
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
        DOCKER_HOST = "unix:///var/run/docker.sock"

        # The node name: stable across restarts and upgrades of the executor
        # on this node, so the reaper removes what an earlier run left.
        AIRLOCK_EXECUTOR_ID = "${node.unique.name}"

        # A host path (raw_exec): the same static binary, mounted into
        # every sandbox as its init.
        AIRLOCK_INIT_PATH = "${NOMAD_TASK_DIR}/airlock"

        AIRLOCK_SLOTS            = var.slots
        AIRLOCK_SHUTDOWN_TIMEOUT = "60s"

        # Every execution under gVisor (runsc, registered in daemon.json),
        # whatever its language or tenant.
        AIRLOCK_ISOLATION = "gvisor"

        # Its NATS identity and the servers' CA (templates above).
        AIRLOCK_NATS_NKEY = "${NOMAD_SECRETS_DIR}/nats.nk"
        AIRLOCK_NATS_CA   = "${NOMAD_SECRETS_DIR}/nats-ca.pem"

        # Topology: the same in every Airlock job. A tenant (API key) may
        # hold a quarter of the queue (AIRLOCK_QUEUE_MAX 10000), so one
        # client cannot fill it for everyone. The fleet-wide cap on running
        # jobs (the executors' consumer's MaxAckPending, which the gateway
        # sets) is at least the autoscaler's max nodes x slots (20 x 6), or
        # added nodes would sit idle.
        AIRLOCK_REPLICAS         = "3"
        AIRLOCK_TENANT_QUEUE_MAX = "2500"
        AIRLOCK_MAX_IN_FLIGHT    = "256"

        AIRLOCK_LOG_FORMAT = "json"
        AIRLOCK_LOG_LEVEL  = "info"
        AIRLOCK_METRICS_LISTEN = "0.0.0.0:${NOMAD_PORT_metrics}"
      }

      resources {
        cpu    = var.slots * var.slot_cpu_mhz
        memory = var.slots * var.slot_memory_mb + 512
      }
    }
  }
}
