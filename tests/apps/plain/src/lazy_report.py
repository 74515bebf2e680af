def render() -> str:
    return "report"
