"""Recording a device solve once and replaying it: CUDA graphs through CuPy.

A recorder's ``record(shapes, body)`` allocates an input buffer per name in
``shapes`` (float64), runs ``body(buffers)`` once while the stream captures,
and returns a recording whose ``run(values)`` copies ``values`` into the
buffers, replays every captured kernel with one launch, and returns copies
of the outputs (device arrays) and the host copy of ``outputs['report']``.

Why the pieces are as they are:

* a capture needs a stream of its own (the legacy default stream cannot
  capture); a replay waits for the work the caller queued on its current
  stream, and the report's copy to the host waits for the replay, so the
  caller's stream sees finished outputs;
* the graph writes its temporaries at the addresses they had during the
  capture, so they come from a memory pool of the recording's own, which
  nothing else allocates from (a shared pool could hand them to a live array);
* the outputs are copied out, so a later replay cannot overwrite what a
  caller still holds (the free phase's voltages while the nudged ones solve);
* the body runs once before the capture (on the buffers' zeros), so that no
  kernel is compiled or loaded while the stream captures;
* nothing may be copied from the host inside the body: a capture records such a
  copy from a staging buffer the library reuses later (the stand-in refuses it).

The tests' CPU stand-in (``tests/strict_device.py``) records by running the
body again on each replay, with every host round trip refused while it runs.
"""


class CudaGraphRecorder:
    """Records with CUDA stream capture (``cp``: the cupy module)."""

    def __init__(self, cp):
        self.cp = cp
        self.stream = cp.cuda.Stream(non_blocking=True)

    def record(self, shapes, body):
        cp = self.cp
        pool = cp.cuda.MemoryPool()
        with cp.cuda.using_allocator(pool.malloc), self.stream:
            buffers = {k: cp.zeros(shape) for k, shape in shapes.items()}
            body(buffers)  # once outside the capture: every kernel it launches is compiled and loaded first
            self.stream.synchronize()
            self.stream.begin_capture()
            try:
                outputs = body(buffers)
            except BaseException:
                self.stream.end_capture()  # leave capture mode; the partial graph is dropped
                raise
            graph = self.stream.end_capture()
        return _CudaRecording(self, graph, buffers, outputs, pool)


class _CudaRecording:
    def __init__(self, recorder, graph, buffers, outputs, pool):
        self.recorder, self.graph, self.buffers, self.outputs, self.pool = recorder, graph, buffers, outputs, pool

    def run(self, values):
        cp, stream = self.recorder.cp, self.recorder.stream
        caller = cp.cuda.get_current_stream()
        with stream:
            stream.wait_event(caller.record())
            for k, x in values.items():
                self.buffers[k][...] = x
            self.graph.launch(stream)
            out = {k: x.copy() for k, x in self.outputs.items() if k != "report"}
            report = self.outputs["report"].get()  # waits for the replay and the copies
        return out, report
