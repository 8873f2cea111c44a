import { classifierServiceDefinition } from '../../src/contract/load';

describe('contract loading', () => {
  it('exposes the three RPCs of ClassifierService (contract section 1)', () => {
    const service = classifierServiceDefinition();
    expect(Object.keys(service).sort()).toEqual(['Classify', 'ClassifySingle', 'ListDeployments']);
    expect(service.Classify.requestStream && service.Classify.responseStream).toBe(true);
  });
});
