# NATS JetStream cluster for Airlock: three servers, one on each node of class
# "nats". The Airlock services create the JOBS and RESULTS streams and the
# executions/executors buckets themselves (with AIRLOCK_REPLICAS=3); this job
# only runs the servers.
#
# Security: TLS on the client port 4222 and mutual TLS on the route port 6222
# (a CA of the operator's); no anonymous user: every client is one of the
# identities `airlock nats-auth` generates, with the permissions of its role
# (docs/security.md). Certificates and identities come from Nomad variables.
#
# Driver: docker with the official `nats` image. The image is the NATS
# project's own build, pinned by tag to the same nats-server version Airlock's
# embedded dev server and tests use (cmd/airlock/go.mod), and Docker is
# already part of the node image. Host networking keeps the advertised
# addresses equal to the node's address, so route gossip and the client
# connect_urls are reachable from every node.
#
# Identity: server_name is the Nomad node name. A JetStream server's identity
# in the cluster (its Raft peer) is derived from its server name, and its data
# lives in the node's host volume, so name and data stay together across
# restarts, upgrades and rescheduling. The nats nodes have fixed names
# (nats-1..3); a replacement instance takes over the name of the one it
# replaces (docs/deploy.md, "Replacing a NATS node").
#
# Shutdown: Nomad sends SIGUSR2, which puts nats-server into lame-duck mode:
# it stops accepting clients, hands stream and consumer leadership to the
# other servers, closes its clients over lame_duck_duration (they reconnect to
# the other servers) and exits. kill_timeout covers grace period + duration.

job "nats" {
  type     = "service"
  priority = 80

  group "nats" {
    count = 3

    constraint {
      attribute = "${node.class}"
      value     = "nats"
    }

    # One server per host: losing a host loses one replica, never two.
    constraint {
      operator = "distinct_hosts"
      value    = "true"
    }

    network {
      mode = "host"

      port "client" {
        static = 4222
      }
      port "cluster" {
        static = 6222
      }
      port "monitor" {
        static = 8222
      }
    }

    # Declared on every nats node in the Nomad client config:
    #   host_volume "nats-data" { path = "/opt/nats/data"  read_only = false }
    volume "data" {
      type      = "host"
      source    = "nats-data"
      read_only = false
    }

    # One server at a time, and the next only once the restarted one reports
    # healthy (JetStream current with the meta leader and its streams).
    update {
      max_parallel      = 1
      health_check      = "checks"
      min_healthy_time  = "30s"
      healthy_deadline  = "5m"
      progress_deadline = "10m"
      auto_revert       = true
    }

    migrate {
      max_parallel     = 1
      health_check     = "checks"
      min_healthy_time = "30s"
      healthy_deadline = "5m"
    }

    restart {
      attempts = 10
      interval = "30m"
      delay    = "15s"
      mode     = "delay"
    }

    reschedule {
      unlimited      = true
      delay          = "30s"
      delay_function = "exponential"
      max_delay      = "10m"
    }

    # Clients (the Airlock services) find the servers through this service.
    service {
      name     = "nats-client"
      provider = "nomad"
      port     = "client"

      check {
        name     = "nats-healthz"
        type     = "http"
        port     = "monitor"
        path     = "/healthz"
        interval = "10s"
        timeout  = "3s"
      }
    }

    # The servers find each other through this one (the routes template below).
    service {
      name     = "nats-cluster"
      provider = "nomad"
      port     = "cluster"
    }

    task "nats" {
      driver = "docker"

      # SIGUSR2 = lame-duck mode; kill_timeout > lame_duck_grace_period +
      # lame_duck_duration (10s + 30s) so the server exits on its own.
      kill_signal  = "SIGUSR2"
      kill_timeout = "60s"

      config {
        image        = "nats:2.15.2-alpine"
        network_mode = "host"
        entrypoint   = ["nats-server"]
        args         = ["--config", "/secrets/nats.conf"]
      }

      volume_mount {
        volume      = "data"
        destination = "/data"
        read_only   = false
      }

      # The identities and permissions (auth.conf of `airlock nats-auth`),
      # this server's TLS certificate and key, and the CA, from Nomad
      # variables (docs/deploy.md, "NATS identities and TLS"); nats.conf
      # includes and names them. A change reloads the server (SIGHUP): adding
      # a tenant's client identity or rotating a certificate needs no
      # restart. Without them the files hold text that does not parse, so the
      # server refuses to start rather than run without authentication or TLS.
      dynamic "template" {
        for_each = {
          "auth.conf"      = { var = "nomad/jobs/nats", item = "auth_conf", perms = "600" }
          "server.pem"     = { var = "nomad/jobs/nats", item = "server_cert", perms = "644" }
          "server-key.pem" = { var = "nomad/jobs/nats", item = "server_key", perms = "600" }
          "ca.pem"         = { var = "nomad/jobs", item = "nats_ca", perms = "644" }
        }
        content {
          destination   = "secrets/${template.key}"
          perms         = template.value.perms
          change_mode   = "signal"
          change_signal = "SIGHUP"
          data          = "{{- with nomadVar \"${template.value.var}\" }}{{ .${template.value.item} }}{{ else }}the Nomad variable ${template.value.var} with item ${template.value.item} is missing{{ end }}\n"
        }
      }

      # The server's configuration, in secrets/ beside the files it includes
      # and names.
      #
      # Routes come from Nomad service discovery: every registered
      # nats-cluster instance (a server ignores the route to itself). When the
      # set changes, the file is re-rendered and the server reloads it on
      # SIGHUP; established routes also gossip the rest of the cluster.
      template {
        destination   = "secrets/nats.conf"
        change_mode   = "signal"
        change_signal = "SIGHUP"

        wait {
          min = "2s"
          max = "10s"
        }

        data = <<-EOF
          server_name: "{{ env "node.unique.name" }}"
          listen: "0.0.0.0:{{ env "NOMAD_PORT_client" }}"
          client_advertise: "{{ env "NOMAD_ADDR_client" }}"
          http_port: {{ env "NOMAD_PORT_monitor" }}

          # Requests and results travel as single messages (as in airlock
          # dev); a stored result is at most 4 MiB (AIRLOCK_MAX_RESULT_BYTES).
          max_payload: 8MB

          lame_duck_grace_period: "10s"
          lame_duck_duration: "30s"

          # The server's store. The AIRLOCK account's own JetStream limits
          # are in auth.conf (airlock nats-auth sizes them from the
          # topology's bounds: max_file for three replicas of every stream
          # and bucket, about 30 GiB by default, and max_bytes_required so
          # that nothing is unbounded); a server reserves that limit in its
          # store, so max_file_store must be at least as large. Each
          # stream's and bucket's MaxBytes are the services' settings
          # (docs/operations.md, "Storage").
          jetstream {
            store_dir: "/data"
            max_memory_store: 1GB
            max_file_store: 80GB
          }

          # Clients: TLS required (they verify this certificate against the
          # CA); who they are is their nkey (auth.conf).
          tls {
            cert_file: "/secrets/server.pem"
            key_file: "/secrets/server-key.pem"
            ca_file: "/secrets/ca.pem"
            timeout: 5
          }

          cluster {
            name: "airlock"
            listen: "0.0.0.0:{{ env "NOMAD_PORT_cluster" }}"
            advertise: "{{ env "NOMAD_ADDR_cluster" }}"
            connect_retries: 120
            routes: [
          {{- range nomadService "nats-cluster" }}
              "nats-route://{{ .Address }}:{{ .Port }}"
          {{- end }}
            ]
            # Routes: mutual TLS, so only a server with a certificate of
            # this CA joins the cluster (and sees its traffic).
            tls {
              cert_file: "/secrets/server.pem"
              key_file: "/secrets/server-key.pem"
              ca_file: "/secrets/ca.pem"
              verify: true
              timeout: 5
            }
          }

          # Accounts: AIRLOCK (JetStream; a user per role and tenant with
          # least-privilege permissions) and SYS, the system account.
          include auth.conf
        EOF
      }

      resources {
        cpu    = 1500
        memory = 4096
      }
    }
  }
}
