"""A `[core] hostname_callable` for Airflow: the host name the watchdog's configuration names.

The watchdog matches each node to its rows in Airflow's `job` table by `job.hostname`, which Airflow
takes from `[core] hostname_callable` (default `airflow.utils.net.getfqdn`; research/airflow.md §2.6).
Where that default does not give the name listed in the watchdog's `nodes` (several Airflow
processes per machine, as in the local cluster's conformance run; a host whose FQDN changes), pin it:

    PYTHONPATH=<this directory>:$PYTHONPATH
    AIRFLOW__CORE__HOSTNAME_CALLABLE=airflow_watchdog_hostname.get_hostname
    AIRFLOW_WATCHDOG_HOSTNAME=<the node's hostname in the watchdog's configuration>

Every component (scheduler, dag-processor, triggerer) and every task then writes that name. With
AIRFLOW_WATCHDOG_HOSTNAME unset or empty it returns Airflow's own default, so installing it changes
nothing until the variable is set. Airflow 2.0 and later accept the dotted form `module.function`
(1.10 wanted `module:function`).
"""

import os

ENV_VAR = "AIRFLOW_WATCHDOG_HOSTNAME"


def get_hostname():
    """The pinned host name, else Airflow's default hostname_callable."""
    name = os.environ.get(ENV_VAR, "").strip()
    if name:
        return name
    try:
        from airflow.utils.net import getfqdn  # Airflow 2.4+ and 3.x: the default callable
    except ImportError:  # older Airflow: socket.getfqdn was the default
        from socket import getfqdn
    return getfqdn()
