"""Protect under overload: an adaptive concurrency limit, a CoDel wait queue, priorities,
and deadlines that cancel the handler and free what it held.

The middleware asks :class:`~poise.admission.controller.Admission` before calling the
app; everything here is decided without calling the app.
"""
