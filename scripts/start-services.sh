#!/usr/bin/env bash
# Checks each local service the tests need and starts it with the command from
# shared/SERVICES.md when it is down. Usage: start-services.sh [redis|postgres|amqp|mqtt|nats ...]
# (no arguments: all of them). Kafka (Tansu) is started by the test fixtures themselves.
set -uo pipefail

want=("$@")
[ ${#want[@]} -eq 0 ] && want=(postgres redis amqp mqtt nats)

up() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

start() {
  case "$1" in
    postgres) pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -n1)" main start ;;
    redis) redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" --appendonly no \
             --dir /var/lib/redis --logfile /var/log/redis/ci.log ;;
    amqp) rabbitmq-server -detached ;;
    mqtt) mosquitto -d -c /etc/mosquitto/mosquitto.conf ;;
    nats) start-stop-daemon --start --oknodo --background --exec /usr/sbin/nats-server -- \
            -a 127.0.0.1 -p 4222 -js -sd /var/lib/nats-server -l /var/log/nats-server.log ;;
  esac
}

declare -A port=([postgres]=5432 [redis]=6379 [amqp]=5672 [mqtt]=1883 [nats]=4222)
status=0
for service in "${want[@]}"; do
  p=${port[$service]:-}
  [ -n "$p" ] || { echo "unknown service: $service" >&2; status=1; continue; }
  up "$p" && continue
  echo "starting $service (port $p is closed)" >&2
  start "$service" >/dev/null 2>&1 || true
  for _ in $(seq 1 60); do up "$p" && break; sleep 0.5; done
  up "$p" || { echo "$service did not come up on port $p" >&2; status=1; }
done
exit $status
