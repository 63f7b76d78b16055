"""``perfectmatch ai``: the fake OpenAI-compatible server, draining the profile-analysis queue, provider status."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from perfectmatch.ai.fake_server import FAULT_KINDS, FakeOpenAIServer
from perfectmatch.cli import state
from perfectmatch.cli._output import emit, stderr
from perfectmatch.errors import InvalidInputError

app = typer.Typer(help="AI providers: fake OpenAI-compatible server, queue draining, status.", no_args_is_help=True,
                  pretty_exceptions_show_locals=False)


@app.command("fake-server")
def fake_server_cmd(
    ctx: typer.Context,
    port: Annotated[int, typer.Option(help="port on 127.0.0.1 (0: any free port)")] = 8089,
    latency_ms: Annotated[float, typer.Option(help="delay before every answer")] = 0.0,
    fault_rate: Annotated[float, typer.Option(help="share of requests that fail, 0-1")] = 0.0,
    faults: Annotated[str, typer.Option(help=f"comma-separated fault kinds: {','.join(FAULT_KINDS)}")] = ",".join(
        FAULT_KINDS),
    seed: Annotated[int, typer.Option(help="seed of the fault draws")] = 0,
    deepseek: Annotated[bool, typer.Option(help="behave like DeepSeek (no strict schema mode, no embeddings)")] = False,
) -> None:
    """Serve /v1/chat/completions and /v1/embeddings with deterministic answers until Ctrl-C."""
    if not 0.0 <= fault_rate <= 1.0:
        raise InvalidInputError(f"--fault-rate must be between 0 and 1, got {fault_rate}")
    kinds = [k.strip() for k in faults.split(",") if k.strip()]
    try:
        srv = FakeOpenAIServer(port=port, latency_s=latency_ms / 1000, fault_rate=fault_rate, fault_kinds=kinds,
                               seed=seed, reject_json_schema=deepseek)
    except ValueError as exc:
        raise InvalidInputError(f"--faults: {exc}") from exc
    srv.start()
    st = state(ctx)
    emit({"base_url": srv.base_url, "port": srv.port}, as_json=st.json)
    sys.stdout.flush()
    if not st.json:
        stderr.print(f"export OPENAI_BASE_URL={srv.base_url} OPENAI_API_KEY=fake   (Ctrl-C to stop)")
    try:
        srv.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        srv.stop()


@app.command("drain-queue")
def drain_queue_cmd(
    ctx: typer.Context,
    limit: Annotated[int, typer.Option(help="requests to process at most", min=1)] = 100,
) -> None:
    """Analyse profiles queued while the AI was unavailable and store their insights."""
    from perfectmatch.onboarding import drain_profile_queue

    st = state(ctx)
    emit(drain_profile_queue(st.app, limit=limit), as_json=st.json)


@app.command("status")
def status_cmd(ctx: typer.Context) -> None:
    """Which AI provider is in use (OpenAI, DeepSeek backup, or the local fallback) and its limits."""
    from perfectmatch.ai import describe_ai

    st = state(ctx)
    ai = st.settings.ai
    emit({"provider": describe_ai(ai), "batch_size": ai.batch_size, "timeout_s": ai.timeout_s,
          "max_retries": ai.max_retries, "openai_rpm": ai.openai_rpm, "openai_tpm": ai.openai_tpm,
          "run_budget_usd": ai.run_budget_usd}, as_json=st.json)
