# With --software-deployment-method conda, rules run in envs/*.yaml, which hold pinned third-party packages
# only (an env file is copied before it is built, so it cannot point at this checkout with `pip: -e ../`).
# The qbnn code then comes from this workflow's own src/ (the code these rules were written for): every shell
# command gets it on PYTHONPATH and `qbnn` as a shell function running `python -m qbnn` in the job's env.
import shlex

from snakemake.settings.types import DeploymentMethod

if DeploymentMethod.CONDA in workflow.deployment_settings.deployment_method:
    shell.prefix(
        f"export PYTHONPATH={shlex.quote(str(WORKFLOW_ROOT / 'src'))}${{PYTHONPATH:+:$PYTHONPATH}}; "
        'qbnn() { python -m qbnn "$@"; }; '
    )
