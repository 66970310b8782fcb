// Shape of the generated config.mjs (the real one is written into the deployment zip).
export default {
  functionArn: 'arn:aws:lambda:eu-west-1:123456789012:function:oncelink-example-viewer-request',
  region: 'eu-west-1',
  timeoutMs: 3000,
};
