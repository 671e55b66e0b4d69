"""`make cluster`: the whole distributed topology on loopback, until Ctrl-C.

A private PostgreSQL server for state (initdb into a temporary directory; --postgres shared: a fresh
database on the machine's server on 5432), moto_server for S3, the broker (a private redis-server, or the
machine's RabbitMQ with --broker rabbitmq), 2 `dsar serve` API replicas and 2 `dsar worker` processes
(DSAR_JOBS=celery) over the demo shop. Everything is stopped, and the database removed, on Ctrl-C.
"""

from __future__ import annotations

import argparse
import signal
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.cluster import Cluster  # noqa: E402


def _interrupt(*_: object) -> None:
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--broker", choices=["redis", "rabbitmq"], default="redis")
    p.add_argument(
        "--postgres",
        choices=["private", "shared"],
        default="private",
        help="a PostgreSQL server of the cluster's own (default), or a database on the machine's server",
    )
    p.add_argument("--apis", type=int, default=2, help="API replicas (default 2)")
    p.add_argument("--workers", type=int, default=2, help="`dsar worker` processes (default 2)")
    p.add_argument("--customers", type=int, default=10_000, help="size of the demo shop")
    p.add_argument("--dir", type=Path, default=None, help="work directory (default: a temporary one)")
    args = p.parse_args(argv)
    workdir = args.dir or Path(tempfile.mkdtemp(prefix="dsar-cluster-"))
    cluster = Cluster(
        workdir,
        broker=args.broker,
        apis=args.apis,
        workers=args.workers,
        customers=args.customers,
        postgres=args.postgres,
    )
    signal.signal(signal.SIGTERM, _interrupt)  # `kill` stops the cluster as Ctrl-C does
    signal.signal(signal.SIGINT, _interrupt)  # also when started in the background (SIGINT ignored)
    print(f"starting the cluster in {workdir} ...", flush=True)
    try:
        cluster.start()
        print("dsar cluster is up (Ctrl-C stops everything):\n" + cluster.describe(), flush=True)
        while True:
            time.sleep(1)
            for i, proc in enumerate(cluster.worker_procs):  # a supervisor's job (a worker killed by hand, say)
                if proc is not None and proc.poll() is not None:
                    print(f"worker {i} exited ({proc.returncode}); restarting it", flush=True)
                    cluster.start_worker(i)
    except KeyboardInterrupt:
        print("\nstopping ...", flush=True)
    finally:
        cluster.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
