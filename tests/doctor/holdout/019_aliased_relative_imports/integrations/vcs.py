from subprocess import check_output as sh


def current_revision() -> str:
    return sh(["git", "rev-parse", "--short", "HEAD"], text=True).strip()
