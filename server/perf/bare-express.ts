/**
 * The baseline of the service benchmark: a bare Express 5 app answering the same shape of
 * GET (a project as JSON) with no validation, authentication or policy. Prints its URL.
 */
import express from 'express';

const app = express();
app.disable('x-powered-by');
app.set('etag', false);
app.get('/v1/projects/:projectId', (req, res) => {
  res.json({ id: req.params.projectId, name: 'bench', description: '', createdAt: new Date(0).toISOString(), createdBy: 'admin' });
});
const server = app.listen(0, '127.0.0.1', () => {
  const address = server.address();
  if (typeof address === 'object' && address) process.stdout.write(`listening on http://127.0.0.1:${address.port}\n`);
});
process.on('SIGTERM', () => server.close(() => process.exit(0)));
